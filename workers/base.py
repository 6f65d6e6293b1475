"""The task base every fleet task uses: keyword payloads through the middleware pipeline."""

from __future__ import annotations

from typing import Any

from celery import Task
from pydantic import BaseModel, ConfigDict

from sheen.analytics.trace_context import continued
from sheen.reliability.idempotency import derive_key
from workers.context import RunContext
from workers.pipeline import run_pipeline


class NoPayload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FleetTask(Task):
    """Tasks take keyword arguments only, validated by `payload_schema`.

    Every task declares an expected runtime; the watchdog limits follow from it
    (soft = 3x, hard = soft + 30 s; scheduled jobs set theirs in `job_options`).
    """

    payload_schema: type[BaseModel] = NoPayload
    expected_runtime_seconds: int = 60
    soft_time_limit = 180
    time_limit = 210
    max_retries = 5
    idempotent = True  # False: every delivery runs (fleet.ping); deliveries are still counted
    record_runs = True  # False: no job_runs row (fleet.ping, whose probes would flood it)
    typing = False  # the payload schema validates; Celery's signature check would pre-empt it
    # Hard time limits kill the pool child: the main process's Request records and dead-letters.
    Request = "workers.request:FleetRequest"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with continued(self.request.headers):
            ctx = RunContext.from_request(self, kwargs)
            ctx.args = list(args)  # refused by Validation, inside the pipeline: dead-lettered
            return run_pipeline(ctx, lambda: self.run(ctx))

    def idempotency_key(self, ctx: RunContext) -> str:
        """The execution's key: an explicit header or kwarg, else derived from name and kwargs.

        Scheduled jobs override this with their period (a day or a window start).
        """
        explicit = (ctx.task.request.headers or {}).get("idempotency_key") or ctx.kwargs.get(
            "idempotency_key"
        )
        return str(explicit) if explicit else derive_key(self.name, ctx.kwargs)
