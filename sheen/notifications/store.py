"""The notification and appeal rows: every statement is a named query in sql/notifications.sql."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, RowMapping
from sqlalchemy.exc import IntegrityError

from sheen.db.queries import query
from sheen.errors import PayloadError

AREA = "notifications"


@dataclass(frozen=True)
class Recorded:
    id: uuid.UUID
    status: str
    suppressed_reason: str | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: RowMapping) -> Recorded:
        return cls(row["id"], row["status"], row["suppressed_reason"], row["created_at"])


@dataclass(frozen=True)
class NewNotification:
    user_id: uuid.UUID
    category: str
    locale: str
    params: dict[str, Any]
    request_key: str

    def bind(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "category": self.category,
            "locale": self.locale,
            "params": json.dumps(self.params, sort_keys=True),
            "request_key": self.request_key,
        }


def record(conn: Connection, new: NewNotification, enabled: bool) -> Recorded:
    """Record one request inside the caller's transaction; the database applies the limit.

    Kill switch off: recorded suppressed (kill_switch), never counted. Otherwise one INSERT
    that either counts (pending), or is refused by the exclusion constraint (no row: then
    recorded rate_limited), or is turned into rate_limited by the insert trigger.
    """
    try:
        if enabled:
            row = conn.execute(query(AREA, "insert_counted"), new.bind()).mappings().first()
            if row is not None:
                return Recorded.from_row(row)
        reason = "rate_limited" if enabled else "kill_switch"
        row = (
            conn.execute(query(AREA, "insert_suppressed"), {**new.bind(), "reason": reason})
            .mappings()
            .one()
        )
    except IntegrityError as exc:
        if "fk_trust_safety_notifications_user_id_users" in str(exc.orig):
            raise PayloadError(f"user_id: no user {new.user_id}") from None
        raise
    return Recorded.from_row(row)


def by_request_key(engine: Engine, request_key: str) -> Recorded | None:
    with engine.connect() as conn:
        row = (
            conn.execute(query(AREA, "by_request_key"), {"request_key": request_key})
            .mappings()
            .first()
        )
    return Recorded.from_row(row) if row else None


def notification(engine: Engine, notification_id: uuid.UUID) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(query(AREA, "notification"), {"id": notification_id}).mappings().first()
    return dict(row) if row else None


def user_notifications(
    engine: Engine, user_id: uuid.UUID, limit: int = 100
) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            query(AREA, "user_notifications"), {"user_id": user_id, "limit": limit}
        ).mappings()
        return [dict(r) for r in rows]


def appeals(engine: Engine, status: str | None, limit: int = 100) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(query(AREA, "appeals"), {"status": status, "limit": limit}).mappings()
        return [dict(r) for r in rows]


def ticket_for(conn: Connection, notification_id: uuid.UUID) -> dict[str, Any] | None:
    row = (
        conn.execute(query(AREA, "ticket_for_notification"), {"notification_id": notification_id})
        .mappings()
        .first()
    )
    return dict(row) if row else None


def insert_ticket(
    conn: Connection, notification_id: uuid.UUID, user_message: str, context: dict[str, Any]
) -> bool:
    """True if this created the notification's ticket, False if it already had one."""
    row = conn.execute(
        query(AREA, "insert_ticket"),
        {
            "notification_id": notification_id,
            "user_message": user_message,
            "context": json.dumps(context, sort_keys=True),
        },
    ).first()
    return row is not None
