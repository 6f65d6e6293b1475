"""jobs.cleanup_artifacts: soft-delete artifacts past retention, keeping each project's latest."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from beat_schedule import JOBS_BY_NAME
from schemas.jobs import CleanupArtifactsPayload
from sheen.artifacts.soft_delete import soft_delete_stale
from sheen.db.engine import get_engine
from tasks.ghost_builds import WindowJob
from tasks.scheduled import job_options
from workers.app import app
from workers.context import RunContext

NAME = "jobs.cleanup_artifacts"
WINDOW = JOBS_BY_NAME[NAME].period_seconds


class HourlyJob(WindowJob):
    payload_schema = CleanupArtifactsPayload
    window_seconds = WINDOW


@app.task(base=HourlyJob, **job_options(NAME))
def cleanup_artifacts(ctx: RunContext) -> dict[str, Any]:
    ctx.check_not_done()
    payload = ctx.payload_as(CleanupArtifactsPayload)
    settings = ctx.settings
    as_of = payload.resolve_window(ctx.sent_at, WINDOW)
    retention = timedelta(days=payload.retention_days or settings.artifact_retention_days)
    keep = settings.artifact_keep_latest if payload.keep_latest is None else payload.keep_latest
    totals = soft_delete_stale(
        get_engine(settings),
        as_of,
        retention,
        keep,
        payload.batch_size or settings.job_batch_size,
        finish=ctx.take_done_mark,
    )
    return {"as_of": as_of.isoformat(), **totals.as_dict()}
