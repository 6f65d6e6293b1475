"""Builds: ghost detection (live builds whose heartbeat stopped)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine

from sheen.db.queries import query
from sheen.services.batching import BatchTotals, Finish, run_keyset_batches


def fail_ghost_builds(
    engine: Engine,
    as_of: datetime,
    threshold: timedelta,
    period: str,
    batch_size: int,
    finish: Finish | None = None,
) -> BatchTotals:
    """Fail builds silent for longer than `threshold` at `as_of` and refund their AI time."""
    return run_keyset_batches(
        engine,
        query("builds", "fail_ghost_builds"),
        {"as_of": as_of, "cutoff": as_of - threshold, "period": period},
        batch_size,
        finish,
    )
