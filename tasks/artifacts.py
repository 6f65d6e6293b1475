"""Tasks of the artifacts domain: the cold move and purge jobs, and verified restores."""

from __future__ import annotations

from typing import Any

from beat_schedule import JOBS_BY_NAME
from schemas.artifacts import ColdMovePayload, PurgePayload, RestorePayload
from sheen.artifacts import move_to_cold, open_store, purge, restore
from sheen.db.engine import get_engine
from tasks.ghost_builds import WindowJob
from tasks.scheduled import job_options
from workers.app import app
from workers.base import FleetTask
from workers.context import RunContext

COLD_MOVE = "jobs.artifacts_cold_move"
PURGE = "jobs.artifacts_purge"


class ColdMoveJob(WindowJob):
    payload_schema = ColdMovePayload
    window_seconds = JOBS_BY_NAME[COLD_MOVE].period_seconds


class PurgeJob(WindowJob):
    payload_schema = PurgePayload
    window_seconds = JOBS_BY_NAME[PURGE].period_seconds


@app.task(base=ColdMoveJob, **job_options(COLD_MOVE))
def artifacts_cold_move(ctx: RunContext) -> dict[str, Any]:
    ctx.check_not_done()
    payload = ctx.payload_as(ColdMovePayload)
    as_of = payload.resolve_window(ctx.sent_at, ColdMoveJob.window_seconds)
    settings = ctx.settings
    totals = move_to_cold(
        get_engine(settings),
        open_store(settings),
        settings,
        as_of,
        COLD_MOVE,
        payload.batch_size or settings.job_batch_size,
        finish=ctx.take_done_mark,
    )
    return {"as_of": as_of.isoformat(), **totals.as_dict()}


@app.task(base=PurgeJob, **job_options(PURGE))
def artifacts_purge(ctx: RunContext) -> dict[str, Any]:
    ctx.check_not_done()
    payload = ctx.payload_as(PurgePayload)
    as_of = payload.resolve_window(ctx.sent_at, PurgeJob.window_seconds)
    settings = ctx.settings
    totals = purge(
        get_engine(settings),
        open_store(settings),
        settings,
        as_of,
        PURGE,
        payload.batch_size or settings.job_batch_size,
        finish=ctx.take_done_mark,
    )
    return {"as_of": as_of.isoformat(), **totals.as_dict()}


class RestoreTask(FleetTask):
    payload_schema = RestorePayload
    expected_runtime_seconds = 120


@app.task(base=RestoreTask, name="artifacts.restore", bind=False)
def restore_artifact(ctx: RunContext) -> dict[str, Any]:
    """Restore one artifact; its recovery-log row and effect commit with the done-mark."""
    payload = ctx.payload_as(RestorePayload)
    settings = ctx.settings
    result = restore(
        get_engine(settings),
        open_store(settings),
        settings,
        payload.artifact_id,
        payload.actor,
        dry_run=payload.dry_run,
        task_id=ctx.task_id,
        begin=ctx.transaction,
    )
    return result.as_dict()
