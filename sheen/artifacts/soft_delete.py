"""The first step of the lifecycle: soft delete of stale artifacts, one audit row each."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine

from sheen.db.queries import query
from sheen.metrics import record_artifact_lifecycle
from sheen.services.batching import BatchTotals, Finish, run_keyset_batches

SOFT_DELETE_JOB = "jobs.cleanup_artifacts"


def soft_delete_stale(
    engine: Engine,
    as_of: datetime,
    retention: timedelta,
    keep_latest: int,
    batch_size: int,
    finish: Finish | None = None,
    job: str = SOFT_DELETE_JOB,
) -> BatchTotals:
    """Soft-delete artifacts older than `retention` that are not among the latest of their project.

    Each soft delete writes its `cleanup_audit_log` row in the same statement.
    """
    totals = run_keyset_batches(
        engine,
        query("artifacts", "soft_delete_stale_artifacts"),
        {"as_of": as_of, "cutoff": as_of - retention, "keep": keep_latest, "job": job},
        batch_size,
        finish,
    )
    record_artifact_lifecycle("soft_deleted", totals.affected)
    return totals
