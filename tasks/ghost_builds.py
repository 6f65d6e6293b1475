"""jobs.ghost_build_detection: fail builds whose heartbeat stopped and refund their AI time."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from beat_schedule import JOBS_BY_NAME
from schemas.jobs import GhostBuildPayload, WindowPayload, window_key
from sheen.db.engine import get_engine
from sheen.services.builds import fail_ghost_builds
from tasks.scheduled import job_options
from workers.app import app
from workers.base import FleetTask
from workers.context import RunContext

NAME = "jobs.ghost_build_detection"
WINDOW = JOBS_BY_NAME[NAME].period_seconds


class WindowJob(FleetTask):
    """A job whose period is a time window; its idempotency key is the window's start."""

    payload_schema: type[WindowPayload] = GhostBuildPayload
    window_seconds = WINDOW

    def idempotency_key(self, ctx: RunContext) -> str:
        payload = ctx.payload_as(WindowPayload)
        start = payload.resolve_window(ctx.sent_at, self.window_seconds)
        return window_key(start)


@app.task(base=WindowJob, **job_options(NAME))
def ghost_build_detection(ctx: RunContext) -> dict[str, Any]:
    ctx.check_not_done()
    payload = ctx.payload_as(GhostBuildPayload)
    as_of = payload.resolve_window(ctx.sent_at, WINDOW)
    threshold = timedelta(
        seconds=payload.threshold_seconds or ctx.settings.ghost_build_threshold_seconds
    )
    totals = fail_ghost_builds(
        get_engine(ctx.settings),
        as_of,
        threshold,
        ctx.idempotency_key or "",
        payload.batch_size or ctx.settings.job_batch_size,
        finish=ctx.take_done_mark,
    )
    return {"as_of": as_of.isoformat(), **totals.as_dict()}
