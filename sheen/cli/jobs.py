"""`sheen-ops jobs ...`: list the scheduled jobs and run one now."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime
from typing import Any

import click

from beat_schedule import JOBS, JOBS_BY_NAME
from sheen.cli.output import emit_json, emit_table
from sheen.db.engine import get_engine
from sheen.services.job_runs import isoformat, last_runs


@click.group()
def jobs() -> None:
    """Scheduled jobs: list them, run one now."""


@jobs.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_jobs(as_json: bool) -> None:
    """Name, schedule, expected runtime, and the last run with its status."""
    runs = last_runs(get_engine())
    data = []
    for job in JOBS:
        last = runs.get(job.name, {})
        data.append(
            {
                "name": job.name,
                "schedule": job.cadence,
                "expected_runtime_seconds": job.expected_runtime_seconds,
                "soft_time_limit_seconds": job.soft_time_limit,
                "last_run": isoformat(last.get("started_at")),
                "last_status": last.get("status"),
            }
        )
    if as_json:
        emit_json(data)
        return
    emit_table(
        ["name", "schedule", "expected", "last run", "status"],
        [
            [
                d["name"],
                d["schedule"],
                f"{d['expected_runtime_seconds']}s",
                d["last_run"] or "never",
                d["last_status"] or "-",
            ]
            for d in data
        ],
    )


def period_kwargs(name: str, period: str | None) -> dict[str, Any]:
    """Turn `--period` into the job's payload field (a date, or a window start)."""
    if period is None:
        return {}
    job = JOBS_BY_NAME[name]
    try:
        if job.period == "day":
            return {"day": date.fromisoformat(period).isoformat()}
        moment = datetime.fromisoformat(period.replace("Z", "+00:00"))
    except ValueError:
        expected = "YYYY-MM-DD" if job.period == "day" else "an ISO time with offset"
        raise click.BadParameter(f"{period!r} is not {expected}", param_hint="--period") from None
    if moment.tzinfo is None:
        raise click.BadParameter("give a UTC offset, e.g. 2026-11-25T10:00Z", param_hint="--period")
    return {"as_of": moment.isoformat()}


@jobs.command("run")
@click.argument("name", type=click.Choice(sorted(JOBS_BY_NAME)))
@click.option("--period", help="Day (YYYY-MM-DD) or window start (ISO time) to run for.")
@click.option(
    "--wait/--no-wait", default=False, help="Wait for the result; non-zero exit on failure."
)
@click.option("--timeout", default=600.0, show_default=True, help="Seconds to wait with --wait.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def run_job(name: str, period: str | None, wait: bool, timeout: float, as_json: bool) -> None:
    """Enqueue the scheduled job NAME now."""
    from workers.app import app

    kwargs = period_kwargs(name, period)
    # A result is written only for a caller that waits (job_runs records every outcome).
    result = app.send_task(name, kwargs=kwargs, ignore_result=not wait)
    if not wait:
        _print({"task_id": result.id, "job": name, "state": "queued"}, as_json)
        return
    try:
        value = result.get(timeout=timeout, propagate=True)
    except Exception as exc:
        _print(
            {
                "task_id": result.id,
                "job": name,
                "state": "failed",
                "error": f"{type(exc).__name__}: {exc}",
            },
            as_json,
        )
        sys.exit(1)
    _print({"task_id": result.id, "job": name, "state": "succeeded", "result": value}, as_json)


def _print(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(data)
    else:
        click.echo(" ".join(f"{k}={v}" for k, v in data.items()))


@jobs.command("test-alert")
@click.option(
    "--mode",
    type=click.Choice(["fail", "hang", "flaky"]),
    default="fail",
    show_default=True,
    help="fail: permanent error; hang: stopped by the watchdog; flaky: transient, then succeeds.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def test_alert(mode: str, as_json: bool) -> None:
    """Enqueue fleet.test_alert: a synthetic failure that proves the dead-letter and alert path."""
    import uuid

    from workers.app import app

    result = app.send_task(
        "fleet.test_alert", kwargs={"mode": mode, "nonce": uuid.uuid4().hex}, ignore_result=True
    )
    _print(
        {"task_id": result.id, "job": "fleet.test_alert", "mode": mode, "state": "queued"}, as_json
    )


@jobs.command("audit")
@click.option("--since", default="1h", show_default=True, help="Tasks overdue within this long.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def audit(since: str, as_json: bool) -> None:
    """Tasks sent but never finished (past the visibility timeout plus a margin); exit 1 if any."""
    from sheen.cli.dlq import parse_duration
    from sheen.ledger.audit import run_audit
    from sheen.settings import load_settings

    report = run_audit(load_settings(), parse_duration(since))
    if as_json:
        emit_json(report.to_dict())
    else:
        emit_table(
            ["task id", "task", "due (UTC)"],
            [
                [m.task_id, m.task, isoformat(datetime.fromtimestamp(m.due_at, UTC))]
                for m in report.missing
            ],
        )
        click.echo(
            f"{len(report.missing)} missing, {report.open_tasks} open "
            f"(grace {report.grace_seconds:g} s, since {since})"
        )
    if report.missing:
        sys.exit(1)


@jobs.command("inflight")
@click.option("--limit", default=50, show_default=True, help="List at most this many messages.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def inflight(limit: int, as_json: bool) -> None:
    """Messages waiting in the fleet's queues, and those reserved or delayed but not acknowledged."""
    from sheen.reliability.clients import broker_redis
    from sheen.reliability.inflight import InFlight
    from sheen.settings import load_settings

    settings = load_settings()
    if not settings.broker_url.startswith(("redis", "rediss")):
        click.echo(
            "sheen-ops jobs inflight: reads a Redis broker; on RabbitMQ see the management UI "
            "(messages ready / unacked per queue)",
            err=True,
        )
        sys.exit(2)
    view = InFlight(broker_redis(settings), settings.queue_names)
    summary, messages = view.summary(), view.unacked(limit)
    if as_json:
        emit_json(
            {
                "waiting": summary.waiting,
                "unacked": summary.unacked,
                "messages": [m.as_dict() for m in messages],
            }
        )
        return
    emit_table(
        ["task id", "task", "retries", "queue", "reserved s ago", "eta"],
        [
            [m.task_id, m.task, m.retries, m.queue, f"{m.reserved_seconds_ago:.1f}", m.eta or "-"]
            for m in messages
        ],
    )
    waiting = ", ".join(f"{q}={n}" for q, n in summary.waiting.items())
    click.echo(f"waiting: {waiting}; reserved or delayed, not acknowledged: {summary.unacked}")
