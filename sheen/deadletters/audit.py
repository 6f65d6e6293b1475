"""The dead-letter audit trail: who requeued or purged which letter, when (append-only table)."""

from __future__ import annotations

import getpass
import json
import socket
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, select

from sheen.db.models import dead_letter_audit
from sheen.db.queries import query
from sheen.settings import Settings


def current_actor(settings: Settings) -> str:
    """The operator: SHEEN_OPS_ACTOR when a wrapper sets it (an SSO id), else user@host."""
    if settings.ops_actor:
        return settings.ops_actor
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def record(
    engine: Engine,
    action: str,
    jobs_by_letter: Mapping[str, str],
    actor: str,
    details: dict[str, Any] | None = None,
) -> int:
    """One audit row per letter, written by one statement (`dead_letters.sql: audit_many`)."""
    if not jobs_by_letter:
        return 0
    with engine.begin() as conn:
        conn.execute(
            query("dead_letters", "audit_many"),
            {
                "action": action,
                "actor": actor,
                "details": json.dumps(details or {}),
                "ids": list(jobs_by_letter),
                "jobs": list(jobs_by_letter.values()),
            },
        )
    return len(jobs_by_letter)


def entries(engine: Engine, letter_id: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        result = conn.execute(
            select(dead_letter_audit)
            .where(dead_letter_audit.c.letter_id == letter_id)
            .order_by(dead_letter_audit.c.id)
        )
        return [dict(r._mapping) for r in result]
