"""Record every execution in `job_runs`: opened at start, closed with its status."""

from __future__ import annotations

import time
from typing import Any

from celery.exceptions import Retry, SoftTimeLimitExceeded

from sheen.db.engine import get_engine
from sheen.services.job_runs import finish_run, start_run
from workers.context import RunContext
from workers.middleware import CallNext, Middleware


def status_of(exc: BaseException) -> str:
    if isinstance(exc, SoftTimeLimitExceeded):
        return "timeout"
    if isinstance(exc, Retry):
        return "retry"
    return "failure"


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
            finish_run(
                engine,
                ctx.run_id,
                ctx.status,
                time.monotonic() - began,
                error=f"{type(exc).__name__}: {exc}"
                if ctx.status != "retry"
                else str(exc) or "retry",
            )
            raise
        if ctx.status == "running":
            ctx.status = "success"
        affected = result.get("affected") if isinstance(result, dict) else None
        finish_run(engine, ctx.run_id, ctx.status, time.monotonic() - began, rows_affected=affected)
        return result
