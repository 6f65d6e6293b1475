"""The worker main process's view of a task: handles the hard time limit.

Past its hard limit the pool child is killed, so no code of the task (and no
middleware) runs any more. Celery then calls `on_timeout` here, in the main
process: we close the job_runs row as `timeout` and dead-letter the task with
reason `timeout`. The message is acknowledged (acks_on_failure_or_timeout), so a
hung task is not redelivered blindly.
"""

from __future__ import annotations

from typing import Any

import structlog
from celery.exceptions import TimeLimitExceeded
from celery.worker import state
from celery.worker.request import Request

from sheen.db.engine import get_engine
from sheen.services.job_runs import close_running
from sheen.settings import load_settings
from workers.dead_lettering import dead_letter, from_execution

log = structlog.get_logger("sheen.jobs")


class FleetRequest(Request):
    def on_timeout(self, soft: bool, timeout: float) -> None:
        super().on_timeout(soft, timeout)
        if soft or state.should_terminate:
            return  # soft: the task itself raises SoftTimeLimitExceeded and the middleware acts
        try:
            self._record_hard_timeout(timeout)
        except Exception as err:
            log.exception("dead_letter_failed", task_id=self.id, error_type=type(err).__name__)

    def _record_hard_timeout(self, timeout: float) -> None:
        settings = load_settings()
        exc = TimeLimitExceeded(timeout)
        error = f"TimeLimitExceeded: hard time limit ({timeout} s) exceeded, process killed"
        close_running(get_engine(settings), self.id, "timeout", error)
        # The child that would have counted it is dead: count the timeout here (main process;
        # imported late so prometheus-client is loaded after the multiprocess folder is set).
        from sheen import metrics

        metrics.record_run(self.task_name, "timeout", timeout, settings=settings)
        headers: dict[str, Any] = dict(self.request_dict or {})
        letter = from_execution(
            task_name=self.task_name,
            task_id=self.id,
            kwargs=dict(self.kwargs or {}),
            args=list(self.args or []),
            headers=headers,
            queue=(self.delivery_info or {}).get("routing_key"),
            retries=int(headers.get("retries") or 0),
            exc=exc,
            reason="timeout",
        )
        letter.exc_message = error
        dead_letter(letter, settings)
