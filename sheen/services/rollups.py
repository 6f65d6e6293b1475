"""Retention of the hourly job_runs roll-up: hours older than every read window are deleted.

The overview reads 24 h and the trends 7 days of `job_run_rollups`; older hours are
only weight (one row per job, hour, status and duration bucket that saw a run). Each
batch is its own transaction; the last one (fewer rows than a batch) runs `finish`,
which takes the job's done-mark, so the run is done exactly when its last delete commits.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine

from sheen.db.queries import query
from sheen.services.batching import Finish


def prune_rollups(
    engine: Engine, before: datetime, batch_size: int, finish: Finish | None = None
) -> tuple[int, int]:
    """Delete roll-up rows for hours before `before`; returns (rows deleted, batches)."""
    total = batches = 0
    while True:
        with engine.begin() as conn:
            deleted = int(
                conn.execute(
                    query("rollups", "prune_rollups"), {"before": before, "batch_size": batch_size}
                ).scalar_one()
            )
            if deleted < batch_size and finish is not None:
                finish(conn)
        total += deleted
        batches += 1
        if deleted < batch_size:
            return total, batches
