"""The dead-letter audit trail: who requeued or purged which letter, when (append-only table)."""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, select

from sheen.db.models import dead_letter_audit

INSERT_BATCH = 5000


def current_actor() -> str:
    """The operator: `SHEEN_OPS_ACTOR` when a wrapper sets it, else user@host."""
    explicit = os.environ.get("SHEEN_OPS_ACTOR")
    if explicit:
        return explicit[:200]
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
    """One audit row per letter, inserted in batches; returns rows written."""
    rows = [
        {
            "action": action,
            "letter_id": letter_id,
            "job": job,
            "actor": actor,
            "details": details or {},
        }
        for letter_id, job in jobs_by_letter.items()
    ]
    with engine.begin() as conn:
        for start in range(0, len(rows), INSERT_BATCH):
            conn.execute(dead_letter_audit.insert(), rows[start : start + INSERT_BATCH])
    return len(rows)


def entries(engine: Engine, letter_id: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        result = conn.execute(
            select(dead_letter_audit)
            .where(dead_letter_audit.c.letter_id == letter_id)
            .order_by(dead_letter_audit.c.id)
        )
        return [dict(r._mapping) for r in result]
