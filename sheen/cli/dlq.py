"""`sheen-ops dlq ...`: list, show, requeue and purge dead letters (a thin wrapper over the registry).

Bulk commands print a progress bar on a terminal and a summary line always; the
exit status is 1 when any letter could not be handled, 2 for bad usage.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import click

from sheen.cli.output import emit_json, emit_table
from sheen.deadletters import DeadLetter, DeadLetterStore, open_store
from sheen.deadletters import operations as ops
from sheen.deadletters.audit import current_actor
from sheen.logging import redact
from sheen.settings import load_settings

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd]?)$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """'90', '30s', '15m', '2h', '7d' -> seconds."""
    match = _DURATION.match(text.strip())
    if not match:
        raise click.BadParameter(
            f"{text!r} is not a duration like 30m, 2h or 7d", param_hint="--since"
        )
    return float(match.group(1)) * _UNIT[match.group(2)]


def _registry() -> DeadLetterStore:
    settings = load_settings()
    return open_store(settings.broker_url, delivery_limit=settings.broker_delivery_limit)


def _engine() -> Any:
    from sheen.db.engine import get_engine

    return get_engine()


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _summary(letter: DeadLetter) -> dict[str, Any]:
    return {
        "id": letter.id,
        "job": letter.job,
        "reason": letter.reason,
        "error": f"{letter.exc_type or '-'}: {letter.exc_message or ''}".strip(),
        "attempts": letter.attempts,
        "dead_lettered_at": _when(letter.dead_lettered_at),
        "queue": letter.queue,
        "idempotency_key": letter.idempotency_key,
        # What a requeue would run, with personal data masked as in the logs.
        "payload": {"args": redact(letter.args), "kwargs": redact(letter.kwargs)},
    }


@click.group()
def dlq() -> None:
    """Dead letters: tasks that failed for good, kept for an operator."""


@dlq.command("list")
@click.option("--job", help="Only this job (task name).")
@click.option("--since", help="Only letters from this long ago, e.g. 30m, 2h, 7d.")
@click.option("--limit", default=50, show_default=True, help="At most this many, newest first.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_letters(job: str | None, since: str | None, limit: int, as_json: bool) -> None:
    """Newest dead letters first, with the count per job. Nothing is consumed."""
    registry = _registry()
    cutoff = time.time() - parse_duration(since) if since else None
    letters = registry.list(job=job, since=cutoff, limit=limit)
    if as_json:
        emit_json(
            {"letters": [_summary(x) for x in letters], "count_by_job": registry.count_by_job()}
        )
        return
    emit_table(
        ["id", "job", "reason", "attempts", "dead-lettered (UTC)", "error"],
        [
            [s["id"], s["job"], s["reason"], s["attempts"], s["dead_lettered_at"], s["error"][:80]]
            for s in map(_summary, letters)
        ],
    )
    counts = registry.count_by_job()
    total = sum(counts.values())
    by_job = ", ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "none"
    click.echo(f"{len(letters)} shown of {total} dead letters ({by_job})")


@dlq.command("show")
@click.argument("letter_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(letter_id: str, as_json: bool) -> None:
    """Everything a dead letter holds: task, arguments, headers, error and traceback."""
    letter = _registry().get(letter_id)
    if letter is None:
        click.echo(f"sheen-ops dlq: no dead letter {letter_id}", err=True)
        sys.exit(1)
    data = letter.to_dict()
    data["args"], data["kwargs"] = redact(letter.args), redact(letter.kwargs)
    if as_json:
        emit_json(data)
        return
    for key in ("first_failed_at", "last_failed_at", "dead_lettered_at"):
        data[key] = f"{_when(data[key])} UTC"
    tb = data.pop("traceback", None)
    for key, value in data.items():
        click.echo(f"{key:>17}: {value}")
    if tb:
        click.echo("        traceback:")
        click.echo(tb.rstrip())


def _select(
    registry: DeadLetterStore, ids: tuple[str, ...], job: str | None, everything: bool
) -> list[str]:
    chosen = sum(bool(x) for x in (ids, job, everything))
    if chosen != 1:
        raise click.UsageError("give letter IDs, or --job NAME, or --all (exactly one)")
    if ids:
        return list(dict.fromkeys(ids))
    return registry.ids(job=job)


@contextmanager
def _progress(total: int, label: str) -> Iterator[ops.Progress | None]:
    if total < 2 or not sys.stderr.isatty():
        yield None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
        yield bar.update


def _finish(verb: str, outcome: ops.Outcome, dry_run: bool = False) -> None:
    prefix = "would requeue" if dry_run else verb
    missing = (
        f" (not found: {', '.join(outcome.missing[:5])}{' ...' if outcome.failed > 5 else ''})"
    )
    click.echo(
        f"{prefix} {len(outcome.done)}, failed {outcome.failed}"
        + (missing if outcome.failed else "")
    )
    if outcome.failed:
        sys.exit(1)


@dlq.command("requeue")
@click.argument("ids", nargs=-1)
@click.option("--job", help="Every letter of this job.")
@click.option("--all", "everything", is_flag=True, help="Every letter.")
@click.option("--dry-run", is_flag=True, help="Say what would be requeued; change nothing.")
def requeue(ids: tuple[str, ...], job: str | None, everything: bool, dry_run: bool) -> None:
    """Send letters back to their original queues (same idempotency key: runs once)."""
    registry = _registry()
    selected = _select(registry, ids, job, everything)
    with _progress(len(selected), "requeueing") as progress:
        outcome = ops.requeue(
            registry,
            _engine(),
            selected,
            current_actor(load_settings()),
            dry_run=dry_run,
            progress=progress,
        )
    _finish("requeued", outcome, dry_run)


@dlq.command("purge")
@click.argument("ids", nargs=-1)
@click.option("--job", help="Every letter of this job.")
@click.option("--all", "everything", is_flag=True, help="Every letter.")
@click.option("--yes", is_flag=True, help="Confirm purging by --job or --all.")
def purge(ids: tuple[str, ...], job: str | None, everything: bool, yes: bool) -> None:
    """Delete letters for good (recorded in the audit table)."""
    if (job or everything) and not yes:
        raise click.UsageError("purging by --job or --all needs --yes")
    registry = _registry()
    selected = _select(registry, ids, job, everything)
    with _progress(len(selected), "purging") as progress:
        outcome = ops.purge(
            registry, _engine(), selected, current_actor(load_settings()), progress=progress
        )
    _finish("purged", outcome)
