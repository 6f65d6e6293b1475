"""The worker's consumer, changed in one way: messages it cannot run are dead-lettered, not dropped.

Celery's Consumer rejects (unknown task name, not a task message, invalid task)
or acknowledges (undecodable body) such messages after logging them, so they
vanish. These hooks are Celery's own (`celery.worker.consumer.Consumer`,
`create_task_handler`); each dead-letters first, then does what Celery does.
Enabled by `worker_consumer` in celeryconfig.
"""

from __future__ import annotations

from typing import Any

import structlog
from celery.worker.consumer import Consumer

from workers.dead_lettering import dead_letter, from_message

log = structlog.get_logger("sheen.deadletters")


def _dead_letter(message: Any, reason: str, exc: BaseException | None) -> None:
    try:
        dead_letter(from_message(message, reason, exc))
    except Exception as err:  # never let the consumer loop die on the way to the queue
        log.exception("dead_letter_failed", reason=reason, error_type=type(err).__name__)


class DeadLetteringConsumer(Consumer):
    def on_unknown_message(self, body: Any, message: Any) -> None:
        _dead_letter(message, "undecodable", ValueError("not a Celery task message"))
        super().on_unknown_message(body, message)

    def on_unknown_task(self, body: Any, message: Any, exc: BaseException) -> None:
        name = (message.headers or {}).get("task") if isinstance(message.headers, dict) else None
        _dead_letter(message, "unknown_task", LookupError(f"no task named {name!r} is registered"))
        super().on_unknown_task(body, message, exc)

    def on_invalid_task(self, body: Any, message: Any, exc: BaseException) -> None:
        _dead_letter(message, "undecodable", exc)
        super().on_invalid_task(body, message, exc)

    def on_decode_error(self, message: Any, exc: BaseException) -> None:
        _dead_letter(message, "undecodable", exc)
        super().on_decode_error(message, exc)
