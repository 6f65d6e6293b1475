"""Where an artifact is and what happened to it (`sheen-ops artifacts show`)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Engine

from sheen.db.queries import query
from sheen.settings import Settings


def state_of(row: Any) -> tuple[str, str]:
    """(state, where): live/soft_deleted/cold/purged and the bucket(s) holding it."""
    if row.purged_at is not None:
        return "purged", "nowhere"
    if row.soft_deleted_at is None:
        return "live", "hot"
    if row.moved_to_cold_at is None:
        return "soft_deleted", "hot"
    if row.hot_deleted_at is None:
        return "cold", "cold and hot (hot delete pending)"
    return "cold", "cold"


def describe(engine: Engine, settings: Settings, artifact_id: uuid.UUID) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(query("artifacts", "get_artifact"), {"id": artifact_id}).first()
        if row is None:
            return None
        cleanup = conn.execute(query("artifacts", "cleanup_history"), {"id": artifact_id}).all()
        recovery = conn.execute(query("artifacts", "recovery_history"), {"id": artifact_id}).all()
    state, where = state_of(row)
    history = [
        {"at": c.effective_at.isoformat(), "what": c.action, "detail": f"by {c.job}"}
        for c in cleanup
    ] + [
        {
            "at": r.created_at.isoformat(),
            "what": f"restore {'dry run ' if r.dry_run else ''}{r.outcome}",
            "detail": f"from {r.source or '-'}" + (f": {r.reason}" if r.reason else ""),
        }
        for r in recovery
    ]
    history.sort(key=lambda h: h["at"])
    return {
        "id": str(row.id),
        "state": state,
        "where": where,
        "sha256": row.sha256,
        "size_bytes": row.size_bytes,
        "storage_key": row.storage_key,
        "cold_storage_key": row.cold_storage_key,
        "hot_bucket": settings.artifact_hot_bucket,
        "cold_bucket": settings.artifact_cold_bucket,
        "created_at": row.created_at.isoformat(),
        "soft_deleted_at": row.soft_deleted_at.isoformat() if row.soft_deleted_at else None,
        "moved_to_cold_at": row.moved_to_cold_at.isoformat() if row.moved_to_cold_at else None,
        "purged_at": row.purged_at.isoformat() if row.purged_at else None,
        "history": history,
    }
