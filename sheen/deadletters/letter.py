"""One dead letter: everything an operator needs to understand and replay a failed task."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

# Why a task was dead-lettered (the `reason` field).
REASONS = (
    "timeout",  # past its soft or hard time limit
    "worker_lost",  # killed its worker on every delivery (poison pill)
    "permanent",  # an error retrying cannot fix (bad payload, a bug)
    "retries_exhausted",  # a transient error outlived the job's max retries
    "unknown_task",  # no task of that name is registered
    "undecodable",  # the message body or format could not be read
    "expired",  # (RabbitMQ) its `expires` passed while it waited; the broker dead-lettered it
)
MAX_TRACEBACK_CHARS = 8000
MAX_MESSAGE_CHARS = 2000
# Headers worth keeping: the rest of the Celery protocol is rebuilt on requeue.
KEPT_HEADERS = (
    "trace_id",
    "sent_at",
    "idempotency_key",
    "dead_letter_id",
    "first_failed_at",
    "root_id",
    "parent_id",
)


@dataclass
class DeadLetter:
    task: str
    reason: str
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    task_id: str | None = None
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, Any] = field(default_factory=dict)
    queue: str = "jobs"
    exc_type: str | None = None
    exc_message: str | None = None
    traceback: str | None = None
    attempts: int = 1
    first_failed_at: float = field(default_factory=time.time)
    last_failed_at: float = field(default_factory=time.time)
    dead_lettered_at: float = field(default_factory=time.time)
    idempotency_key: str | None = None
    body: str | None = None  # the raw body, only when it could not be decoded

    def __post_init__(self) -> None:
        if self.reason not in REASONS:
            raise ValueError(f"unknown dead-letter reason {self.reason!r}")
        if self.exc_message:
            self.exc_message = self.exc_message[:MAX_MESSAGE_CHARS]
        if self.traceback:
            self.traceback = self.traceback[-MAX_TRACEBACK_CHARS:]
        self.headers = {k: v for k, v in self.headers.items() if k in KEPT_HEADERS}
        if self.idempotency_key is None and self.headers.get("idempotency_key"):
            self.idempotency_key = str(self.headers["idempotency_key"])

    @property
    def job(self) -> str:
        return self.task or "unknown"

    @property
    def trace_id(self) -> str | None:
        value = self.headers.get("trace_id")
        return str(value) if value else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), default=str)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeadLetter:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)
