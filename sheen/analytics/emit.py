"""What one execution of a migration-step task emits, and when.

The middleware (workers/middleware/analytics.py) opens a `Recording` for a task that
declares `migration_step = True` while SHEEN_ANALYTICS_EMIT is on, and writes:

- `started` on every delivery as attempt 1 of its task id: the first one writes it, a
  redelivery or retry finds it there (ON CONFLICT DO NOTHING), so it is written once,
  and still written when the first delivery could not reach the database;
- `retry` when the task scheduled a retry (the attempt that failed, its step, the
  error class, this attempt's time);
- `completed` / `failed` at the end (failed: the final error class, never the message).

Inside the body, `ctx.step(name)` (a context manager: times the step, and names it on a
`retry` / `failed` raised inside) or `ctx.step_completed(name, ...)` write
`step_completed`. Each event is one INSERT in its own transaction (or in the task's,
with `conn=`), so a killed task leaves whole events only. A database error while
emitting is logged (`analytics_emit_failed`) and counted, never raised into the task.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog
from pydantic import BaseModel, ConfigDict, ValidationError

from sheen import metrics
from sheen.analytics.events import EventRefused, event, write
from sheen.db.engine import get_engine

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from workers.context import RunContext

log = structlog.get_logger("sheen.analytics")
_current: ContextVar[Recording | None] = ContextVar("sheen_analytics_recording", default=None)


class Identity(BaseModel):
    """The two payload fields every migration-step task carries (read before Validation)."""

    model_config = ConfigDict(extra="ignore")

    migration_id: uuid.UUID
    user_id: uuid.UUID


@dataclass
class StepHandle:
    """What a step may add before it ends: AI seconds consumed, metadata tokens."""

    ai_seconds: float = 0.0
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Recording:
    ctx: RunContext
    identity: Identity
    began: float = field(default_factory=time.monotonic)
    current_step: str = ""

    @property
    def attempt(self) -> int:
        return int(self.ctx.task.request.retries or 0) + 1

    def _fields(self, event_type: str, **more: Any) -> dict[str, Any]:
        ctx, settings = self.ctx, self.ctx.settings
        trace_id = ctx.trace_id if len(ctx.trace_id) == 32 else None
        return {
            "event_type": event_type,
            "migration_id": self.identity.migration_id,
            "user_id": self.identity.user_id,
            "task_id": ctx.task_id,
            "job": ctx.job,
            "attempt": self.attempt,
            "request_id": getattr(ctx, "request_id", None),
            "trace_id": trace_id,
            "service": settings.service_name,
            "environment": settings.env.value,
            "region": settings.region,
            **more,
        }

    def emit(self, event_type: str, conn: Connection | None = None, **more: Any) -> bool:
        """Validate and write one event; True when it was written (not a duplicate)."""
        settings = self.ctx.settings
        try:
            ev = event(**self._fields(event_type, **more))
        except EventRefused as exc:
            metrics.record_analytics_event("refused", settings)
            log.warning("analytics_event_refused", event_type=event_type, detail=str(exc))
            return False
        if conn is not None:  # the task's own transaction: its errors are the task's
            written = write(conn, ev)
        else:
            try:
                written = write(get_engine(settings), ev)
            except Exception as exc:
                metrics.record_analytics_event("error", settings)
                log.warning(
                    "analytics_emit_failed", event_type=event_type, error_type=type(exc).__name__
                )
                return False
        metrics.record_analytics_event("written" if written else "duplicate", settings)
        return written

    def started(self) -> None:
        self.emit("started", attempt=1, metadata={"queue": self.ctx.queue or "unknown"})

    def retry(self, cause: BaseException | None) -> None:
        self.emit(
            "retry",
            step=self.current_step,
            duration_seconds=time.monotonic() - self.began,
            error_class=error_class(cause),
        )

    def completed(self, skipped: bool = False) -> None:
        meta: dict[str, Any] = {"attempts": self.attempt}
        if skipped:  # a redelivery whose work had committed (its first copy died before this)
            meta["skipped"] = True
        self.emit("completed", duration_seconds=time.monotonic() - self.began, metadata=meta)

    def failed(self, exc: BaseException, reason: str) -> None:
        cause = exc.__cause__
        meta: dict[str, Any] = {"attempts": self.attempt, "reason": reason}
        if cause is not None:
            meta["cause_class"] = error_class(cause)
        self.emit(
            "failed",
            step=self.current_step,
            duration_seconds=time.monotonic() - self.began,
            error_class=error_class(exc),
            metadata=meta,
        )


def error_class(exc: BaseException | None) -> str | None:
    """The class name of the error that counts: a translated TransientError's cause."""
    if exc is None:
        return None
    from sheen.errors import TransientError

    if isinstance(exc, TransientError) and exc.__cause__ is not None:
        exc = exc.__cause__
    return type(exc).__name__


def begin(ctx: RunContext) -> Recording | None:
    """A recording for this execution, or None when its payload names no migration/user."""
    try:
        identity = Identity.model_validate(ctx.kwargs)
    except ValidationError:
        return None
    return Recording(ctx, identity)


def activate(recording: Recording) -> Token[Recording | None]:
    return _current.set(recording)


def deactivate(token: Token[Recording | None]) -> None:
    _current.reset(token)


def current() -> Recording | None:
    return _current.get()


def step_completed(
    name: str,
    *,
    duration_seconds: float | None = None,
    ai_seconds: float = 0.0,
    conn: Connection | None = None,
    **metadata: Any,
) -> bool:
    """Write one `step_completed` (no-op without an active recording: emission off, or
    not a migration step). `conn`: inside the task's transaction, with its effect."""
    recording = _current.get()
    if recording is None:
        return False
    return recording.emit(
        "step_completed",
        conn=conn,
        step=name,
        duration_seconds=duration_seconds,
        ai_seconds=ai_seconds,
        metadata=metadata,
    )


@contextmanager
def step(name: str, conn: Connection | None = None) -> Iterator[StepHandle]:
    """Time a step; on success write its `step_completed` (inside `conn`'s transaction
    when given), on an error leave its name as the step a `retry` / `failed` reports."""
    handle = StepHandle()
    recording = _current.get()
    if recording is None:
        yield handle
        return
    recording.current_step = name
    began = time.monotonic()
    yield handle
    step_completed(
        name,
        duration_seconds=time.monotonic() - began,
        ai_seconds=handle.ai_seconds,
        conn=conn,
        **handle.metadata,
    )
    recording.current_step = ""
