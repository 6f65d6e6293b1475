"""Retry transient failures with exponential backoff and full jitter, up to max_retries.

Library errors (database, Redis, network) are translated at this boundary into
`TransientError` (`raise ... from`); anything else is permanent and passes
through untouched to the DeadLetters middleware.

One failure publishes at most one retry: once a retry message is out
(`ctx.published_retry`), an error in the bookkeeping around it (the job_runs
write failing in the same outage) never publishes a second copy.
Backoff is scaled by SHEEN_TIME_LIMIT_SCALE like the time limits, and deferrals
(a copy waiting for its own task id's lease) do not count against max_retries.
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
            if ctx.published_retry is not None:
                # The retry already out is the outcome; never a second message.
                raise ctx.published_retry from exc
            transient = as_transient(exc)
            if transient is None:
                raise
            task = ctx.task
            request = task.request
            retries = int(request.retries or 0)
            headers = dict(request.headers or {})
            counted = retries - int(headers.get("deferrals") or 0)
            if task.max_retries is not None and counted >= task.max_retries:
                raise RetriesExhausted(
                    f"{type(exc).__name__} after {counted + 1} attempts: {exc}".splitlines()[0]
                ) from exc
            settings = ctx.settings
            countdown = backoff_seconds(
                counted,
                settings.retry_backoff_seconds * settings.time_limit_scale,
                settings.retry_backoff_max_seconds * settings.time_limit_scale,
            )
            headers.setdefault("first_failed_at", time.time())
            ctx.status = "retry"
            log.warning(
                "job_retry",
                attempt=retries + 1,
                max_retries=task.max_retries,
                countdown=round(countdown, 3),
                error_type=type(exc).__name__,
            )
            try:
                task.retry(
                    exc=transient, countdown=countdown, headers=headers, max_retries=retries + 1
                )
            except Retry as published:
                ctx.published_retry = published
                raise published from exc
            raise AssertionError("Task.retry returned without raising") from exc
