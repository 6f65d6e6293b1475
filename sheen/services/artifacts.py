"""Build artifacts: the retention stage of the lifecycle (soft delete)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine

from sheen.db.queries import query
from sheen.services.batching import BatchTotals, Finish, run_keyset_batches


def soft_delete_stale(
    engine: Engine,
    as_of: datetime,
    retention: timedelta,
    keep_latest: int,
    batch_size: int,
    finish: Finish | None = None,
) -> BatchTotals:
    """Soft-delete artifacts older than `retention` that are not among the latest of their project."""
    return run_keyset_batches(
        engine,
        query("artifacts", "soft_delete_stale_artifacts"),
        {"as_of": as_of, "cutoff": as_of - retention, "keep": keep_latest},
        batch_size,
        finish,
    )
