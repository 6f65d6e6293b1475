"""Verified restore of a soft-deleted artifact: from hot if it is still there, else from cold.

The artifact's row is locked for the whole attempt (a hot delete or purge of the same row
waits), every attempt writes one `artifact_recovery_log` row in the same transaction as
its effect, and nothing says "live" before the bytes in the hot bucket hash to the
recorded SHA-256. A mismatch leaves everything as it was, logs a security event and
counts a refusal (alert: ArtifactRestoreChecksumMismatch).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from typing import Any

import structlog
from sqlalchemy import Connection, Engine

from sheen.artifacts.lifecycle import Buckets
from sheen.artifacts.store import ObjectStore, cold_key
from sheen.db.queries import query
from sheen.metrics import record_artifact_restore
from sheen.settings import Settings

log = structlog.get_logger(__name__)
Begin = Callable[[], AbstractContextManager[Connection]]


@dataclass(frozen=True)
class RestoreResult:
    artifact_id: str
    outcome: str  # restored | verified (dry run) | refused
    source: str | None = None  # hot | cold
    reason: str | None = None  # set when refused
    expected_sha256: str | None = None
    actual_sha256: str | None = None
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return self.outcome != "refused"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _refuse(row: Any, artifact_id: str, reason: str, **fields: Any) -> RestoreResult:
    expected = row.sha256 if row is not None else None
    return RestoreResult(artifact_id, "refused", reason=reason, expected_sha256=expected, **fields)


def _attempt(  # noqa: PLR0911  (one return per outcome, in the order they are checked)
    store: ObjectStore, buckets: Buckets, artifact_id: str, row: Any, dry_run: bool
) -> RestoreResult:
    if row is None:
        return _refuse(row, artifact_id, "not_found", dry_run=dry_run)
    if row.purged_at is not None:
        return _refuse(row, artifact_id, "purged", dry_run=dry_run)
    if row.soft_deleted_at is None:
        return _refuse(row, artifact_id, "not_deleted", dry_run=dry_run)
    expected = row.sha256
    done = "verified" if dry_run else "restored"
    if row.moved_to_cold_at is None or row.hot_deleted_at is None:
        actual = store.read_sha256(buckets.hot, row.storage_key)
        if actual is not None:
            if actual != expected:
                return _refuse(
                    row, artifact_id, "hash_mismatch", source="hot", actual_sha256=actual,
                    dry_run=dry_run,
                )  # fmt: skip
            return RestoreResult(artifact_id, done, "hot", None, expected, actual, dry_run)
    key = row.cold_storage_key or cold_key(expected)
    actual = store.read_sha256(buckets.cold, key)
    if actual is None:
        return _refuse(row, artifact_id, "missing", source="cold", dry_run=dry_run)
    if actual != expected:
        return _refuse(
            row, artifact_id, "hash_mismatch", source="cold", actual_sha256=actual, dry_run=dry_run
        )
    if dry_run:
        return RestoreResult(artifact_id, done, "cold", None, expected, actual, dry_run)
    copied = store.copy(buckets.cold, key, buckets.hot, row.storage_key)
    if copied != expected:  # changed between the read and the copy: take the copy back
        store.delete_many(buckets.hot, [row.storage_key])
        return _refuse(row, artifact_id, "hash_mismatch", source="cold", actual_sha256=copied)
    return RestoreResult(artifact_id, done, "cold", None, expected, copied, dry_run)


def restore(
    engine: Engine,
    store: ObjectStore,
    settings: Settings,
    artifact_id: uuid.UUID,
    actor: str,
    dry_run: bool = False,
    task_id: str | None = None,
    begin: Begin | None = None,
) -> RestoreResult:
    """Restore one artifact (or, with `dry_run`, only verify that it could be)."""
    buckets = Buckets.from_settings(settings)
    with (begin or engine.begin)() as conn:
        row = conn.execute(query("artifacts", "lock_artifact"), {"id": artifact_id}).first()
        result = _attempt(store, buckets, str(artifact_id), row, dry_run)
        conn.execute(
            query("artifacts", "record_recovery"),
            {
                "artifact_id": artifact_id,
                "actor": actor,
                "task_id": task_id,
                "source": result.source,
                "outcome": result.outcome,
                "reason": result.reason,
                "dry_run": dry_run,
                "expected_sha256": result.expected_sha256,
                "actual_sha256": result.actual_sha256,
            },
        )
        if result.outcome == "restored":
            conn.execute(query("artifacts", "mark_restored"), {"id": artifact_id})
    record_artifact_restore(result.outcome, result.reason, settings)
    if result.ok:
        log.info(
            "artifact_restore_ok",
            artifact_id=result.artifact_id,
            outcome=result.outcome,
            source=result.source,
        )
    else:
        # A security event: operators and the alert rule key on it. Hashes and ids only.
        log.warning(
            "artifact_restore_refused",
            security=True,
            artifact_id=result.artifact_id,
            reason=result.reason,
            source=result.source,
            expected_sha256=result.expected_sha256,
            actual_sha256=result.actual_sha256,
            dry_run=dry_run,
        )
    return result
