"""The worker main process's view of a task: handles the hard time limit.

Past its hard limit the pool child is killed, so no code of the task (and no
middleware) runs any more. Celery then calls `on_timeout` here, in the main
process: we close the job_runs row as `timeout` and dead-letter the task with
reason `timeout`. The message is acknowledged (acks_on_failure_or_timeout), so a
hung task is not redelivered blindly. A timer that fires late for work that did
finish (the main process was stuck, e.g. reconnecting to the broker) dead-letters
nothing: the run's record or done-mark says it finished.

When a pool child dies with a task (SIGKILL, OOM, hard limit), the lease that child
held on the task's key is dropped here, so the redelivery runs at once.
"""

from __future__ import annotations

from typing import Any

import structlog
from billiard.einfo import ExceptionWithTraceback
from celery.exceptions import TimeLimitExceeded, WorkerLostError
from celery.worker import state
from celery.worker.request import Request

from sheen.db.engine import get_engine
from sheen.reliability.done_marks import task_finished
from sheen.services.job_runs import close_running
from sheen.settings import load_settings
from workers.dead_lettering import dead_letter, from_execution

log = structlog.get_logger("sheen.jobs")


class FleetRequest(Request):
    def on_failure(
        self, exc_info: Any, send_failed_event: bool = True, return_ok: bool = False
    ) -> Any:
        exc = getattr(exc_info, "exception", None)
        if isinstance(exc, ExceptionWithTraceback):
            exc = exc.exc
        lost = (WorkerLostError, TimeLimitExceeded, SystemExit, KeyboardInterrupt)
        if isinstance(exc, lost) and self.worker_pid:
            self._release_dead_lease(int(self.worker_pid))
        return super().on_failure(exc_info, send_failed_event, return_ok)

    def _release_dead_lease(self, pid: int) -> None:
        from workers.middleware.idempotency import idempotency_registry

        try:
            if idempotency_registry(load_settings()).release_dead(self.id, pid):
                log.info("lease_released", reason="worker_lost", task_id=self.id)
        except Exception as err:
            # The lease then expires by itself; the redelivery defers until it has.
            log.warning("lease_release_failed", task_id=self.id, error_type=type(err).__name__)

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
        engine = get_engine(settings)
        if task_finished(engine, self.id):
            log.warning("timeout_after_finish", task_id=self.id, job=self.task_name)
            return
        exc = TimeLimitExceeded(timeout)
        error = f"TimeLimitExceeded: hard time limit ({timeout} s) exceeded, process killed"
        close_running(engine, self.id, "timeout", error)
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
