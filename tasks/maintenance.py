"""jobs.prune_done_marks: done-marks older than their retention are deleted, batch by batch."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from schemas.jobs import DailyPayload
from sheen.db.engine import get_engine
from sheen.reliability.done_marks import prune
from tasks.daily_reset import DailyJob
from tasks.scheduled import job_options
from workers.app import app
from workers.context import RunContext


@app.task(base=DailyJob, **job_options("jobs.prune_done_marks"))
def prune_done_marks(ctx: RunContext) -> dict[str, Any]:
    """Deleting old marks is idempotent by itself; the day's own mark closes the run."""
    ctx.check_not_done()
    payload = ctx.payload_as(DailyPayload)
    day = payload.resolve_day(ctx.sent_at)
    before = datetime.combine(day, time(), UTC) - timedelta(
        days=ctx.settings.done_mark_retention_days
    )
    deleted = prune(
        get_engine(ctx.settings), before, payload.batch_size or ctx.settings.job_batch_size
    )
    with ctx.transaction():
        pass  # the day's done-mark
    return {"day": day.isoformat(), "before": before.isoformat(), "affected": deleted}
