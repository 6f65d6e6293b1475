"""jobs.daily_bonus_reset: each user's daily bonus back to the plan amount, within the monthly cap."""

from __future__ import annotations

from typing import Any

from schemas.jobs import DailyPayload
from sheen.db.engine import get_engine
from sheen.services.quotas import reset_daily_bonus
from tasks.daily_reset import DailyJob
from tasks.scheduled import job_options
from workers.app import app
from workers.context import RunContext


@app.task(base=DailyJob, **job_options("jobs.daily_bonus_reset"))
def daily_bonus_reset(ctx: RunContext) -> dict[str, Any]:
    ctx.check_not_done()
    payload = ctx.payload_as(DailyPayload)
    day = payload.resolve_day(ctx.sent_at)
    totals = reset_daily_bonus(
        get_engine(ctx.settings),
        day,
        payload.batch_size or ctx.settings.job_batch_size,
        finish=ctx.take_done_mark,
    )
    return {"day": day.isoformat(), **totals.as_dict()}
