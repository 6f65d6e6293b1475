"""Count every execution once, with its final status, run time and queue wait.

Outermost in the pipeline, so the status it records is the one every inner
middleware agreed on (skipped by idempotency, retry, timeout, failure, success).
"""

from __future__ import annotations

import time
from typing import Any

from beat_schedule import JOBS_BY_NAME
from sheen import metrics
from workers.context import RunContext
from workers.middleware import CallNext, Middleware
from workers.middleware.run_record import status_of


class Metrics(Middleware):
    def around(self, ctx: RunContext, call_next: CallNext) -> Any:
        wait = ctx.queue_wait_seconds
        if wait is not None:
            metrics.observe_queue_wait(ctx.queue or "unknown", wait, ctx.settings)
        began = time.monotonic()
        try:
            result = call_next()
        except BaseException as exc:
            status = ctx.status if ctx.status in metrics.RUN_STATUSES else status_of(exc)
            self._record(ctx, status, began)
            raise
        status = ctx.status if ctx.status in metrics.RUN_STATUSES else "success"
        self._record(ctx, status, began)
        return result

    @staticmethod
    def _record(ctx: RunContext, status: str, began: float) -> None:
        metrics.record_run(
            ctx.job,
            status,
            time.monotonic() - began,
            scheduled=ctx.job in JOBS_BY_NAME,
            settings=ctx.settings,
        )
