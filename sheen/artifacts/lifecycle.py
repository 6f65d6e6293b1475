"""The lifecycle steps after a soft delete: move to content-addressed cold storage, purge.

Each step walks its rows in keyset batches; a rerun skips what is done (the SQL filters),
so a job killed anywhere resumes. The order inside a move keeps every artifact in at
least one bucket: copy hot -> cold, verify the stored SHA-256, record the move (commit),
and only then delete the hot object (in a transaction that holds the row, so a restore
cannot interleave). A crash after the commit leaves `hot_deleted_at` NULL: the next run
sweeps those first. A purge deletes the cold object only when no other unpurged artifact
refers to the same content, and records the purge in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Connection, Engine

from sheen.artifacts.store import ObjectMissing, ObjectStore, StorageError, cold_key
from sheen.db.queries import query
from sheen.errors import TransientError
from sheen.metrics import record_artifact_lifecycle
from sheen.services.batching import FIRST_KEY, BatchTotals
from sheen.settings import Settings

log = structlog.get_logger(__name__)
Finish = Callable[[Connection], None]


@dataclass(frozen=True)
class Buckets:
    hot: str
    cold: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Buckets:
        return cls(settings.artifact_hot_bucket, settings.artifact_cold_bucket)


@dataclass(frozen=True)
class CopyOutcome:
    id: uuid.UUID
    status: str  # copied | reused | mismatch | missing | error
    key: str
    actual: str | None = None
    error: str | None = None


def _copy_group(store: ObjectStore, buckets: Buckets, rows: Sequence[Any]) -> list[CopyOutcome]:
    """Copy one content hash's artifacts: the first good copy serves the rest (stored once)."""
    sha = rows[0].sha256
    key = cold_key(sha)
    outcomes: list[CopyOutcome] = []
    try:
        present = store.stored_sha256(buckets.cold, key) == sha
    except StorageError as exc:
        return [CopyOutcome(r.id, "error", key, error=str(exc)) for r in rows]
    for row in rows:
        if present:
            outcomes.append(CopyOutcome(row.id, "reused", key, sha))
            continue
        try:
            actual = store.copy(buckets.hot, row.storage_key, buckets.cold, key)
        except ObjectMissing:
            outcomes.append(CopyOutcome(row.id, "missing", key))
            continue
        except StorageError as exc:
            outcomes.append(CopyOutcome(row.id, "error", key, error=str(exc)))
            continue
        if actual != sha:
            # The hot object is not what was recorded: never leave it under this address.
            try:
                store.delete_many(buckets.cold, [key])
            except StorageError as exc:
                log.warning("artifact_cold_cleanup_failed", artifact_id=str(row.id), error=str(exc))
            outcomes.append(CopyOutcome(row.id, "mismatch", key, actual))
            continue
        present = True
        outcomes.append(CopyOutcome(row.id, "copied", key, actual))
    return outcomes


def _copy_batch(
    pool: ThreadPoolExecutor, store: ObjectStore, buckets: Buckets, rows: Sequence[Any]
) -> list[CopyOutcome]:
    """Copy a batch on the pool, one task per content hash (so a hash is copied once)."""
    groups: dict[str, list[Any]] = {}
    for row in rows:
        groups.setdefault(row.sha256, []).append(row)
    done = pool.map(lambda group: _copy_group(store, buckets, group), groups.values())
    return [outcome for group in done for outcome in group]


def _count(outcomes: Sequence[CopyOutcome], totals: BatchTotals) -> None:
    for o in outcomes:
        totals.extra["failed" if o.status == "error" else o.status] += 1
        if o.status == "mismatch":
            log.warning(
                "artifact_cold_move_refused",
                artifact_id=str(o.id),
                reason="hash_mismatch",
                actual_sha256=o.actual,
            )
        elif o.status in ("error", "missing"):
            log.warning(
                "artifact_cold_move_failed", artifact_id=str(o.id), status=o.status, error=o.error
            )


def delete_hot(
    engine: Engine,
    store: ObjectStore,
    buckets: Buckets,
    ids: Sequence[uuid.UUID] | None,
    batch_size: int,
) -> int:
    """Delete the hot objects of moved artifacts (these ids, or every one left pending)."""
    deleted = 0
    after: Any = FIRST_KEY
    while True:
        with engine.begin() as conn:
            rows = conn.execute(
                query("artifacts", "lock_hot_pending"),
                {
                    "ids": list(ids) if ids is not None else None,
                    "after": after,
                    "batch_size": batch_size,
                },
            ).all()
            if not rows:
                return deleted
            store.delete_many(buckets.hot, [r.storage_key for r in rows])
            conn.execute(
                query("artifacts", "mark_hot_deleted"),
                {"ids": [r.id for r in rows], "now": datetime.now(UTC)},
            )
        deleted += len(rows)
        after = rows[-1].id


def move_to_cold(
    engine: Engine,
    store: ObjectStore,
    settings: Settings,
    as_of: datetime,
    job: str,
    batch_size: int,
    finish: Finish | None = None,
) -> BatchTotals:
    """Move artifacts soft-deleted `artifact_soft_delete_days` before `as_of` to cold storage.

    S3 errors on some artifacts do not stop the batch: the others are recorded, and the
    job then raises TransientError so it is retried (the failed ones are still due).
    """
    buckets = Buckets.from_settings(settings)
    cutoff = as_of - timedelta(days=settings.artifact_soft_delete_days)
    totals = BatchTotals(extra={"copied": 0, "reused": 0, "mismatch": 0, "missing": 0, "failed": 0})
    totals.extra["swept"] = delete_hot(engine, store, buckets, None, batch_size)
    after: Any = FIRST_KEY
    with ThreadPoolExecutor(settings.artifact_copy_concurrency, "cold-move") as pool:
        while True:
            with engine.connect() as conn:
                rows = conn.execute(
                    query("artifacts", "due_for_cold"),
                    {"cutoff": cutoff, "after": after, "batch_size": batch_size},
                ).all()
            if not rows:
                break
            after = rows[-1].id
            totals.batches += 1
            outcomes = _copy_batch(pool, store, buckets, rows)
            _count(outcomes, totals)
            good = [o for o in outcomes if o.status in ("copied", "reused")]
            if not good:
                continue
            with engine.begin() as conn:
                moved = [
                    r.id
                    for r in conn.execute(
                        query("artifacts", "mark_moved"),
                        {
                            "ids": [o.id for o in good],
                            "cold_keys": [o.key for o in good],
                            "as_of": as_of,
                            "job": job,
                        },
                    )
                ]
            totals.affected += len(moved)
            record_artifact_lifecycle("moved", len(moved), settings)
            delete_hot(engine, store, buckets, moved, batch_size)
            log.info("artifact_cold_batch", batch=totals.batches, moved=len(moved))
    if totals.extra["failed"]:
        raise TransientError(
            f"{totals.extra['failed']} artifacts could not be copied to cold storage "
            f"({totals.affected} moved); they stay due for the retry"
        )
    if finish is not None:
        with engine.begin() as conn:
            finish(conn)
    return totals


def purge(
    engine: Engine,
    store: ObjectStore,
    settings: Settings,
    as_of: datetime,
    job: str,
    batch_size: int,
    finish: Finish | None = None,
) -> BatchTotals:
    """Purge artifacts moved `artifact_cold_retention_days` before `as_of`.

    The cold object goes only when no unpurged artifact outside the batch refers to the
    same content; rows are held locked from the check to the commit.
    """
    buckets = Buckets.from_settings(settings)
    cutoff = as_of - timedelta(days=settings.artifact_cold_retention_days)
    totals = BatchTotals(extra={"objects_deleted": 0, "shared": 0})
    after: Any = FIRST_KEY
    while True:
        with engine.begin() as conn:
            rows = conn.execute(
                query("artifacts", "lock_due_for_purge"),
                {"cutoff": cutoff, "after": after, "batch_size": batch_size},
            ).all()
            if not rows:
                if finish is not None:
                    finish(conn)
                return totals
            keys = sorted({r.cold_storage_key for r in rows if not r.shared})
            store.delete_many(buckets.cold, keys)
            purged = conn.execute(
                query("artifacts", "mark_purged"),
                {"ids": [r.id for r in rows], "as_of": as_of, "job": job},
            ).scalar_one()
        after = rows[-1].id
        totals.batches += 1
        totals.affected += int(purged)
        totals.extra["objects_deleted"] += len(keys)
        totals.extra["shared"] += sum(1 for r in rows if r.shared)
        record_artifact_lifecycle("purged", int(purged), settings)
        log.info("artifact_purge_batch", batch=totals.batches, purged=int(purged))
