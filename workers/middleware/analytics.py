"""Migration analytics: the five events of a task that declares `migration_step = True`.

Sits just inside DeadLetters: it sees the `Retry` the inner Retries publishes (a
`retry` event; an idempotency deferral carries no error and is not one) and every
final failure (`failed`, with the dead-letter reason). A delivery skipped because its key
is done still writes `completed` (marked skipped) unless its attempt has one; one
skipped because another copy is in flight writes no outcome. With
SHEEN_ANALYTICS_EMIT=off, or for any other task, it returns `call_next()` before any
work. Events are written by sheen.analytics.emit; request_id is bound to log lines.
"""

from __future__ import annotations

from typing import Any

import structlog
from celery.exceptions import Ignore, Reject, Retry

from sheen.analytics import emit
from workers.context import RunContext
from workers.dead_lettering import reason_for
from workers.middleware import CallNext, Middleware


class Analytics(Middleware):
    def around(self, ctx: RunContext, call_next: CallNext) -> Any:
        if not ctx.settings.analytics_emit or not getattr(ctx.task, "migration_step", False):
            return call_next()
        recording = emit.begin(ctx)
        if recording is None:  # no migration/user id: Validation refuses the payload
            return call_next()
        token = emit.activate(recording)
        try:
            with structlog.contextvars.bound_contextvars(request_id=ctx.request_id):
                return self._recorded(recording, ctx, call_next)
        finally:
            emit.deactivate(token)

    @staticmethod
    def _recorded(recording: emit.Recording, ctx: RunContext, call_next: CallNext) -> Any:
        recording.started()
        try:
            result = call_next()
        except Retry as published:
            if published.exc is not None:  # a deferral (lease held) has no error
                recording.retry(published.exc)
            raise
        except (Ignore, Reject, KeyboardInterrupt, SystemExit):
            raise  # not an outcome of the task (a killed process writes nothing more)
        except BaseException as exc:
            recording.failed(exc, reason_for(exc))
            raise
        # Skipped: the key's work is done. A redelivery of this very task (its first copy
        # killed after committing) still owes `completed`; if it was written, a duplicate.
        if ctx.status != "skipped":
            recording.completed()
        elif isinstance(result, dict) and result.get("reason") == "done":
            recording.completed(skipped=True)
        return result
