"""What one execution knows about itself, shared by every middleware and the task body."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from sheen.analytics.trace_context import current_trace_id, trace_id_from
from sheen.db.engine import get_engine
from sheen.reliability.done_marks import AlreadyDone, is_done, mark_done
from sheen.services.job_runs import RunStart
from sheen.settings import Settings, load_settings

P = TypeVar("P", bound=BaseModel)

if TYPE_CHECKING:
    from celery import Task
    from sqlalchemy import Connection


@dataclass
class RunContext:
    task: Task
    kwargs: dict[str, Any]
    settings: Settings
    task_id: str
    trace_id: str
    queue: str | None
    sent_at: datetime
    delivered_at: float = field(default_factory=time.time)
    payload: BaseModel | None = None
    idempotency_key: str | None = None
    run_id: int | None = None
    attempt: int = 1
    status: str = "running"
    result: Any = None
    args: list[Any] = field(default_factory=list)  # fleet tasks take none: Validation refuses them
    committed: bool = False  # the effect and the done-mark committed (ctx.transaction)
    published_retry: Exception | None = None  # a retry is out: no second one for this failure
    request_id: str | None = None  # the producer's `request_id` header (logs, job_runs, events)

    @property
    def job(self) -> str:
        return str(self.task.name)

    @property
    def queue_wait_seconds(self) -> float | None:
        """Publish-to-start latency, or None when the message was delayed on purpose."""
        request = self.task.request
        if request.eta or request.retries or (request.headers or {}).get("dead_letter_id"):
            return None  # delayed on purpose, or requeued from the dead-letter queue
        return max(self.delivered_at - self.sent_at.timestamp(), 0.0)

    def payload_as(self, schema: type[P]) -> P:
        """The validated payload, typed as the task's schema (Validation has run before)."""
        if not isinstance(self.payload, schema):
            raise TypeError(
                f"{self.job} payload is {type(self.payload).__name__}, not {schema.__name__}"
            )
        return self.payload

    @property
    def key(self) -> str:
        return self.idempotency_key or self.task_id

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """The task's effect and its key's done-mark, committed together or not at all.

        The mark is taken first: a copy of the key that already committed makes this
        one raise `AlreadyDone` (recorded as skipped) before any effect; a concurrent
        copy waits on the mark's row lock. Every job that writes to PostgreSQL commits
        through here (or through `take_done_mark` in its last batch).
        """
        with get_engine(self.settings).begin() as conn:
            self.take_done_mark(conn)
            yield conn
        self.committed = True

    def check_not_done(self) -> None:
        """Raise AlreadyDone if the key's done-mark committed (before a long batched run)."""
        if is_done(get_engine(self.settings), self.job, self.key):
            raise AlreadyDone(f"{self.job}: key {self.key} already done")

    def take_done_mark(self, conn: Connection) -> None:
        """Take the key's done-mark in `conn`'s transaction, or raise AlreadyDone."""
        if not mark_done(conn, self.job, self.key, self.task_id):
            raise AlreadyDone(f"{self.job}: key {self.key} already done")

    def run_start(self) -> RunStart:
        """What the job_runs row of this execution opens with."""
        return RunStart(
            job=self.job,
            task_id=self.task_id,
            idempotency_key=self.idempotency_key or self.task_id,
            queue=self.queue,
            region=self.settings.region,
            queue_wait_seconds=self.queue_wait_seconds,
            retries=int(self.task.request.retries or 0),
            trace_id=self.trace_id if len(self.trace_id) == 32 else None,
            request_id=self.request_id,
        )

    def step_completed(self, name: str, **fields: Any) -> bool:
        """Migration analytics: one `step_completed` event (sheen.analytics.emit)."""
        from sheen.analytics import emit

        return emit.step_completed(name, **fields)

    def step(self, name: str, conn: Connection | None = None) -> AbstractContextManager[Any]:
        """Migration analytics: time a step, `step_completed` when it ends without error."""
        from sheen.analytics import emit

        return emit.step(name, conn)

    @classmethod
    def from_request(cls, task: Task, kwargs: dict[str, Any]) -> RunContext:
        request = task.request
        headers = request.headers or {}
        sent = headers.get("sent_at")
        sent_at = datetime.fromtimestamp(float(sent), UTC) if sent else datetime.now(UTC)
        delivery = request.delivery_info or {}
        return cls(
            task=task,
            kwargs=kwargs,
            settings=load_settings(),
            task_id=str(request.id or "local"),
            # The W3C trace id: the task span's (its parent is the producer's traceparent).
            trace_id=str(
                current_trace_id()
                or trace_id_from(headers)
                or headers.get("trace_id")
                or request.id
                or "local"
            ),
            request_id=_request_id(headers.get("request_id")),
            queue=delivery.get("routing_key") or delivery.get("queue"),
            sent_at=sent_at,
        )


def _request_id(value: Any) -> str | None:
    """The producer's request id when it is a plain token (never free text)."""
    text = str(value) if value else ""
    return text if re.fullmatch(r"[A-Za-z0-9._:-]{1,128}", text) else None
