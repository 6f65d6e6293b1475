"""Record every execution in `job_runs`: opened at start, closed with its status.

Closing the row is bookkeeping: if it fails (the database went away), the task's
real outcome (success, a retry already published, a failure) stands and the row
is left `running`; the next delivery of the task closes it (as `retry` when it was
an earlier retry). A failed bookkeeping write never becomes a second retry.
"""

from __future__ import annotations

import time
from typing import Any

import structlog
from celery.exceptions import Retry, SoftTimeLimitExceeded

from sheen.db.engine import get_engine
from sheen.reliability.done_marks import AlreadyDone
from sheen.services.job_runs import finish_run, start_run
from workers.context import RunContext
from workers.middleware import CallNext, Middleware

log = structlog.get_logger("sheen.jobs")


def status_of(exc: BaseException) -> str:
    if isinstance(exc, SoftTimeLimitExceeded):
        return "timeout"
    if isinstance(exc, Retry):
        return "retry"
    if isinstance(exc, AlreadyDone):
        return "skipped"
    return "failure"


def _error_of(status: str, exc: BaseException) -> str:
    if status == "retry":
        return str(exc) or "retry"
    if status == "skipped":
        return "done"
    return f"{type(exc).__name__}: {exc}"


class RunRecord(Middleware):
    def around(self, ctx: RunContext, call_next: CallNext) -> Any:
        if not getattr(ctx.task, "record_runs", True):
            # fleet.ping: a database round trip per probe would measure the database, not the fleet
            result = call_next()
            ctx.status = "success"
            return result
        engine = get_engine(ctx.settings)
        ctx.run_id, ctx.attempt = start_run(engine, ctx.run_start())
        began = time.monotonic()
        try:
            result = call_next()
        except (SystemExit, KeyboardInterrupt):
            # The pool is killing this process (hard time limit, shutdown): the row stays
            # `running` for whoever knows why to close it (the main process, or the redelivery).
            raise
        except BaseException as exc:
            ctx.status = status_of(exc)
            self._close(ctx, time.monotonic() - began, error=_error_of(ctx.status, exc))
            raise
        if ctx.status == "running":
            ctx.status = "success"
        affected = result.get("affected") if isinstance(result, dict) else None
        self._close(ctx, time.monotonic() - began, rows_affected=affected)
        return result

    @staticmethod
    def _close(ctx: RunContext, duration: float, **fields: Any) -> None:
        try:
            finish_run(get_engine(ctx.settings), ctx.run_id or 0, ctx.status, duration, **fields)
        except Exception as err:
            log.warning("run_record_failed", status=ctx.status, error_type=type(err).__name__)
