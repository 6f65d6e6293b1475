"""Bind job, task id and trace id to every log line of the execution."""

from __future__ import annotations

from typing import Any

import structlog

from workers.context import RunContext
from workers.middleware import CallNext, Middleware

log = structlog.get_logger("sheen.jobs")


class LogContext(Middleware):
    def around(self, ctx: RunContext, call_next: CallNext) -> Any:
        with structlog.contextvars.bound_contextvars(
            job=ctx.job, task_id=ctx.task_id, trace_id=ctx.trace_id
        ):
            log.info("job_started")
            try:
                result = call_next()
            except Exception as exc:
                log.warning("job_failed", status=ctx.status, error_type=type(exc).__name__)
                raise
            log.info("job_finished", status=ctx.status)
            return result
