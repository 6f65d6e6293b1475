"""The five migration events, validated before they are written, one INSERT each.

An event names a user by UUID only. Every free field is a token (step, error class,
request id) or a hex trace id, and metadata is a flat object of numbers, booleans
and short tokens: an email, a name ("Ana Lima") or an IP address is refused with
`EventRefused`, by key (sheen.logging.PII_KEYS) and by value, before any SQL runs.
The database checks the same shapes again (migration 0008).
"""

from __future__ import annotations

import ipaddress
import json
import re
import uuid
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import Connection, Engine

from sheen.db.queries import query
from sheen.errors import SheenError
from sheen.logging import PII_KEYS

EventType = Literal["started", "step_completed", "retry", "completed", "failed"]
EVENT_TYPES: tuple[str, ...] = ("started", "step_completed", "retry", "completed", "failed")
STEP = r"^[a-z][a-z0-9_]{0,63}$"
TOKEN = re.compile(r"^[A-Za-z0-9_.:/-]{0,200}$")  # no spaces, no @: ids, enums, versions
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_ADDRESS_LIKE = re.compile(r"[0-9A-Fa-f:.]*[:.][0-9A-Fa-f:.]*")  # candidates for ipaddress
MAX_METADATA_KEYS = 32


class EventRefused(SheenError):
    """An analytics event failed validation (it may carry personal data): not written."""


def personal_data_in(value: str) -> str | None:
    """What kind of personal data `value` looks like ("email", "ip"), or None."""
    if _EMAIL.search(value):
        return "email"
    for found in _ADDRESS_LIKE.findall(value):
        # an IPv6 address whole; an IPv4 one also with a port or trailing dots around it
        candidates = [found] if found.count(":") > 1 else found.strip(".:").split(":")
        for candidate in candidates:
            try:
                ipaddress.ip_address(candidate.strip("."))
            except ValueError:
                continue
            return "ip"
    return None


class MigrationEvent(BaseModel):
    """One row of migration_analytics_events (docs/analytics.md names every field)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_type: EventType
    migration_id: uuid.UUID
    user_id: uuid.UUID
    task_id: str = Field(pattern=r"^[A-Za-z0-9._:-]{1,200}$")
    job: str = Field(pattern=r"^[a-z][a-z0-9_.]{0,99}$")
    step: str = Field(default="", pattern=r"^([a-z][a-z0-9_]{0,63})?$")
    attempt: int = Field(ge=1, le=32767)
    duration_seconds: float | None = Field(default=None, ge=0)
    ai_seconds: float = Field(default=0.0, ge=0)
    error_class: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_.]{0,199}$")
    request_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._:-]{1,128}$")
    trace_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")
    service: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    environment: str = Field(pattern=r"^[a-z]{1,32}$")
    region: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("task_id", "job", "step", "error_class", "request_id")
    @classmethod
    def _no_address(cls, value: str | None) -> str | None:
        kind = personal_data_in(value) if value else None
        if kind:
            raise ValueError(f"looks like an {kind} address")
        return value

    @field_validator("metadata")
    @classmethod
    def _flat_tokens(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(value) > MAX_METADATA_KEYS:
            raise ValueError(f"at most {MAX_METADATA_KEYS} keys")
        for key, item in value.items():
            if not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", key):
                raise ValueError(f"key {key!r}: lower-case token expected")
            if key in PII_KEYS:
                raise ValueError(f"key {key!r} names personal data")
            if item is None or isinstance(item, bool | int | float):
                continue
            if not isinstance(item, str):
                raise ValueError(f"{key}: numbers, booleans and short tokens only")
            kind = personal_data_in(item)
            if kind:
                raise ValueError(f"{key}: looks like an {kind} address")
            if not TOKEN.fullmatch(item):
                raise ValueError(f"{key}: a token without spaces expected (never a name)")
        return value

    def params(self) -> dict[str, Any]:
        row = self.model_dump()
        row["metadata"] = json.dumps(self.metadata, sort_keys=True)
        return row


def event(**fields: Any) -> MigrationEvent:
    """A validated event, or EventRefused naming the first bad field (never its value)."""
    try:
        return MigrationEvent(**fields)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "event"
        raise EventRefused(f"{where}: {err['msg']}") from None


def write(bind: Engine | Connection, ev: MigrationEvent) -> bool:
    """Insert `ev`; False if a duplicate of the same (task, type, attempt, step) was there.

    On an Engine the INSERT is one autocommitted statement (atomic, one round trip);
    on a Connection it joins that connection's transaction (the task's effect).
    """
    name = "insert_outcome" if ev.event_type in ("completed", "failed") else "insert_event"
    if isinstance(bind, Engine):
        return _write_autocommit(bind, name, ev.params())
    return bind.execute(query("analytics", name), ev.params()).first() is not None


@cache
def _driver_sql(name: str) -> str:
    """The named query with psycopg's %(name)s placeholders (prepared by the server)."""
    return re.sub(r"(?<!:):(\w+)", r"%(\1)s", str(query("analytics", name)))


def _write_autocommit(engine: Engine, name: str, params: dict[str, Any]) -> bool:
    """One autocommitted, prepared INSERT on a pooled psycopg connection: the cheapest
    path for the worker (no SQLAlchemy statement handling per event)."""
    pooled = engine.raw_connection()
    try:
        driver = pooled.driver_connection
        driver.autocommit = True  # type: ignore[union-attr]
        try:
            with driver.cursor() as cur:  # type: ignore[union-attr]
                cur.execute(_driver_sql(name), params, prepare=True)
                return cur.fetchone() is not None
        finally:
            driver.autocommit = False  # type: ignore[union-attr]
    finally:
        pooled.close()


def events_for_task(engine: Engine, task_id: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(query("analytics", "events_for_task"), {"task_id": task_id})
        return [dict(r._mapping) for r in rows]
