"""jobs.prune_job_run_rollups: roll-up hours older than SHEEN_ROLLUP_RETENTION_DAYS go, in batches."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from schemas.jobs import DailyPayload
from sheen.db.engine import get_engine
from sheen.services.rollups import prune_rollups
from tasks.daily_reset import DailyJob
from tasks.scheduled import job_options
from workers.app import app
from workers.context import RunContext


@app.task(base=DailyJob, **job_options("jobs.prune_job_run_rollups"))
def prune_job_run_rollups(ctx: RunContext) -> dict[str, Any]:
    """Deleting old hours is idempotent by itself; the last batch takes the day's done-mark."""
    ctx.check_not_done()
    payload = ctx.payload_as(DailyPayload)
    day = payload.resolve_day(ctx.sent_at)
    before = datetime.combine(day, time(), UTC) - timedelta(days=ctx.settings.rollup_retention_days)
    deleted, batches = prune_rollups(
        get_engine(ctx.settings),
        before,
        payload.batch_size or ctx.settings.job_batch_size,
        finish=ctx.take_done_mark,
    )
    return {
        "day": day.isoformat(),
        "before": before.isoformat(),
        "affected": deleted,
        "batches": batches,
    }
