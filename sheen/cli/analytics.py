"""`sheen-ops analytics rollup [--user U] [--days 7] [--json]`: the migration roll-up.

The same service as the sidecar's `/api/migration-analytics/rollup` (read-only
transaction, as SHEEN_ANALYTICS_DB_ROLE when set). Without `--user` it covers everyone.
"""

from __future__ import annotations

import uuid

import click

from sheen.cli.output import emit_json, emit_table
from sheen.settings import load_settings


@click.group()
def analytics() -> None:
    """Migration analytics: the roll-up of the five migration events."""


def _num(value: float | None, unit: str = "") -> str:
    return "-" if value is None else f"{value:g}{unit}"


@analytics.command("rollup")
@click.option("--user", "user", type=click.UUID, help="Only this user's migrations (UUID).")
@click.option("--days", default=7, show_default=True, type=click.IntRange(1, 90))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def rollup_command(user: uuid.UUID | None, days: int, as_json: bool) -> None:
    """Per day and overall: counts, success %, P50/P95 durations, steps, retries, AI time."""
    from sheen.analytics.rollup import rollup
    from sheen.db.engine import get_engine

    settings = load_settings()
    found = rollup(get_engine(settings), user, days, role=settings.analytics_db_role)
    if as_json:
        emit_json(found.model_dump(mode="json"))
        return
    o = found.overall
    who = f"user {found.user_id}" if found.user_id else "every user"
    click.echo(f"Migrations since {found.since} ({found.days} days, {who})")
    click.echo(
        f"success {_num(o.success_pct, ' %')}  P50 {_num(o.duration_p50_seconds, ' s')}  "
        f"P95 {_num(o.duration_p95_seconds, ' s')}  retries/migration "
        f"{_num(o.retries_per_migration)}  AI s/migration {_num(o.ai_seconds_per_migration)}"
    )
    headers = ["day", "started", "steps", "retry", "completed", "failed", "success", "p50", "p95"]
    emit_table(
        headers,
        [
            [d.day, d.counts.started, d.counts.step_completed, d.counts.retry, d.counts.completed,
             d.counts.failed, _num(d.success_pct, " %"), _num(d.duration_p50_seconds, " s"),
             _num(d.duration_p95_seconds, " s")]
            for d in found.per_day
        ],
    )  # fmt: skip
    if found.steps:
        click.echo("")
        emit_table(
            ["step", "completed", "p50", "p95", "ai_s", "retries", "failures"],
            [
                [s.step, s.completed, _num(s.duration_p50_seconds, " s"),
                 _num(s.duration_p95_seconds, " s"), s.ai_seconds, s.retries, s.failures]
                for s in found.steps
            ],
        )  # fmt: skip
