"""Turn a failed execution, a timed-out request or an unreadable message into a dead letter.

Three places dead-letter, each with what it knows: the DeadLetters middleware
(in the pool child, with the run context), the hard-timeout handler (in the
worker's main process, with the Request) and the consumer (in the main process,
with only the raw message). They all end in `dead_letter()`.
"""

from __future__ import annotations

import time
import traceback
import uuid
from typing import Any

import structlog
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded

from sheen.deadletters import DeadLetter, DeadLetterStore, open_store
from sheen.errors import PoisonPill, RetriesExhausted
from sheen.settings import Settings, load_settings
from workers.accounting import record_done

log = structlog.get_logger("sheen.deadletters")
MAX_BODY_CHARS = 4000

_registries: dict[str, DeadLetterStore] = {}


def registry(settings: Settings | None = None) -> DeadLetterStore:
    """This process's dead-letter store on the broker (Redis or RabbitMQ, from the URL)."""
    settings = settings or load_settings()
    reg = _registries.get(settings.broker_url)
    if reg is None:
        reg = _registries[settings.broker_url] = open_store(
            settings.broker_url, delivery_limit=settings.broker_delivery_limit
        )
    return reg


def reason_for(exc: BaseException) -> str:
    if isinstance(exc, (SoftTimeLimitExceeded, TimeLimitExceeded)):
        return "timeout"
    if isinstance(exc, PoisonPill):
        return "worker_lost"
    if isinstance(exc, RetriesExhausted):
        return "retries_exhausted"
    return "permanent"


def describe(exc: BaseException | None) -> tuple[str | None, str | None, str | None]:
    """Exception type, one-line message and formatted traceback."""
    if exc is None:
        return None, None, None
    text = "".join(traceback.format_exception(exc)) if exc.__traceback__ else None
    message = str(exc).splitlines()[0] if str(exc) else None
    return type(exc).__name__, message, text


def dead_letter(letter: DeadLetter, settings: Settings | None = None) -> None:
    """Add the letter; log `dead_lettered` (job, reason, ids: never the payload)."""
    added = registry(settings).add(letter)
    record_done(letter.task_id, letter.task)  # the letter is the task's terminal outcome
    log.error(
        "dead_lettered",
        job=letter.job,
        reason=letter.reason,
        letter_id=letter.id,
        task_id=letter.task_id,
        trace_id=letter.trace_id,
        error_type=letter.exc_type,
        attempts=letter.attempts,
        duplicate=not added,
    )


def from_execution(
    *,
    task_name: str,
    task_id: str,
    kwargs: dict[str, Any],
    headers: dict[str, Any],
    queue: str | None,
    retries: int,
    exc: BaseException,
    reason: str,
    idempotency_key: str | None = None,
    args: list[Any] | None = None,
) -> DeadLetter:
    exc_type, message, tb = describe(exc)
    now = time.time()
    first = headers.get("first_failed_at")
    return DeadLetter(
        id=task_id,
        task_id=task_id,
        task=task_name,
        reason=reason,
        args=list(args or []),
        kwargs=dict(kwargs),
        headers=dict(headers),
        queue=queue or "jobs",
        exc_type=exc_type,
        exc_message=message,
        traceback=tb,
        attempts=retries + 1,
        first_failed_at=float(first) if first else now,
        last_failed_at=now,
        dead_lettered_at=now,
        idempotency_key=idempotency_key or headers.get("idempotency_key"),
    )


def from_message(message: Any, reason: str, exc: BaseException | None) -> DeadLetter:
    """A letter for a message the consumer could not turn into a task."""
    headers = message.headers if isinstance(message.headers, dict) else {}
    delivery = message.delivery_info or {}
    task_id = str(headers.get("id") or uuid.uuid4())
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    raw: str | None = None
    try:
        decoded = message.decode()
        args, kwargs = list(decoded[0]), dict(decoded[1])
    except Exception:
        raw = _text(message.body)
    if reason == "undecodable" and raw is None:
        raw = _text(message.body)
    exc_type, text, tb = describe(exc)
    now = time.time()
    return DeadLetter(
        id=task_id,
        task_id=headers.get("id"),
        task=str(headers.get("task") or "unknown"),
        reason=reason,
        args=args,
        kwargs=kwargs,
        headers=headers,
        queue=str(delivery.get("routing_key") or "jobs"),
        exc_type=exc_type,
        exc_message=text,
        traceback=tb,
        attempts=int(headers.get("retries") or 0) + 1,
        first_failed_at=now,
        last_failed_at=now,
        dead_lettered_at=now,
        body=raw if reason == "undecodable" else None,
    )


def _text(body: Any) -> str:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    return text[:MAX_BODY_CHARS]
