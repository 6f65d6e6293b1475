"""jobs.daily_reset: every user's daily AI-time usage back to zero for the new day."""

from __future__ import annotations

from typing import Any

from schemas.jobs import DailyPayload
from sheen.db.engine import get_engine
from sheen.services.quotas import reset_daily_usage
from tasks.scheduled import job_options
from workers.app import app
from workers.base import FleetTask
from workers.context import RunContext


class DailyJob(FleetTask):
    payload_schema = DailyPayload

    def idempotency_key(self, ctx: RunContext) -> str:
        return ctx.payload_as(DailyPayload).resolve_day(ctx.sent_at).isoformat()


@app.task(base=DailyJob, **job_options("jobs.daily_reset"))
def daily_reset(ctx: RunContext) -> dict[str, Any]:
    ctx.check_not_done()
    payload = ctx.payload_as(DailyPayload)
    day = payload.resolve_day(ctx.sent_at)
    totals = reset_daily_usage(
        get_engine(ctx.settings),
        day,
        payload.batch_size or ctx.settings.daily_reset_batch_size,
        finish=ctx.take_done_mark,
    )
    return {"day": day.isoformat(), **totals.as_dict()}
