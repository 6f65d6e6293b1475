"""Send every execution that ends in a final failure to the dead-letter queue.

Final means: not a scheduled retry. Timeouts, payload errors, poison pills,
exhausted retries and unclassified errors (bugs) all land here with a reason;
the exception is re-raised so Celery records the failure and acknowledges. If the
letter cannot be stored, the message is rejected with requeue instead: never lost.
A timeout or lost worker whose work did finish (its effect and done-mark committed)
is not dead-lettered: requeueing it would only be skipped.
"""

from __future__ import annotations

from typing import Any

import structlog
from celery.exceptions import Ignore, Reject, Retry

from sheen.db.engine import get_engine
from sheen.reliability.done_marks import task_finished
from workers.context import RunContext
from workers.dead_lettering import dead_letter, from_execution, reason_for
from workers.middleware import CallNext, Middleware

log = structlog.get_logger("sheen.jobs")


class DeadLetters(Middleware):
    def around(self, ctx: RunContext, call_next: CallNext) -> Any:
        try:
            return call_next()
        except (Retry, Ignore, Reject, KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:
            reason = reason_for(exc)
            if reason in ("timeout", "worker_lost") and self._finished(ctx):
                log.warning("timeout_after_finish", reason=reason)
                ctx.status = "success"
                return {"finished": True, "late": reason}
            request = ctx.task.request
            letter = from_execution(
                task_name=ctx.job,
                task_id=ctx.task_id,
                kwargs=ctx.kwargs,
                headers=dict(request.headers or {}),
                queue=ctx.queue,
                retries=int(request.retries or 0),
                exc=exc,
                reason=reason,
                idempotency_key=ctx.idempotency_key,
                args=ctx.args,
            )
            try:
                dead_letter(letter, ctx.settings)
            except Exception as err:
                # Acknowledging now would lose the task: put it back on its queue instead
                # (redelivered, it fails again and is dead-lettered once the registry is back).
                log.exception("dead_letter_failed", error_type=type(err).__name__)
                raise Reject(f"dead-lettering failed: {type(err).__name__}", requeue=True) from exc
            raise

    @staticmethod
    def _finished(ctx: RunContext) -> bool:
        if ctx.committed:
            return True
        try:
            return task_finished(get_engine(ctx.settings), ctx.task_id)
        except Exception:
            return False  # cannot tell: dead-letter it (a requeue of finished work is skipped)
