"""Retry transient failures with exponential backoff and full jitter, up to max_retries.

Library errors (database, Redis, network) are translated at this boundary into
`TransientError` (`raise ... from`); anything else is permanent and passes
through untouched to the DeadLetters middleware.
"""

from __future__ import annotations

import time
from typing import Any

import structlog
from celery.exceptions import Retry, SoftTimeLimitExceeded

from sheen.errors import RetriesExhausted
from sheen.reliability.retry_policy import as_transient, backoff_seconds
from workers.context import RunContext
from workers.middleware import CallNext, Middleware

log = structlog.get_logger("sheen.jobs")


class Retries(Middleware):
    def around(self, ctx: RunContext, call_next: CallNext) -> Any:
        try:
            return call_next()
        except (Retry, SoftTimeLimitExceeded):
            raise
        except Exception as exc:
            transient = as_transient(exc)
            if transient is None:
                raise
            task = ctx.task
            request = task.request
            retries = int(request.retries or 0)
            if task.max_retries is not None and retries >= task.max_retries:
                raise RetriesExhausted(
                    f"{type(exc).__name__} after {retries + 1} attempts: {exc}".splitlines()[0]
                ) from exc
            countdown = backoff_seconds(
                retries, ctx.settings.retry_backoff_seconds, ctx.settings.retry_backoff_max_seconds
            )
            headers = dict(request.headers or {})
            headers.setdefault("first_failed_at", time.time())
            ctx.status = "retry"
            log.warning(
                "job_retry",
                attempt=retries + 1,
                max_retries=task.max_retries,
                countdown=round(countdown, 3),
                error_type=type(exc).__name__,
            )
            raise task.retry(exc=transient, countdown=countdown, headers=headers) from exc
