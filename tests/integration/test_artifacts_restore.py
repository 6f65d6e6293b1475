"""Verified restores against a real S3 API: from hot, from cold, and the refusals."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from structlog.testing import capture_logs

from sheen.artifacts import cold_key, move_to_cold, restore
from sheen.metrics import ARTIFACT_RESTORE_REFUSALS, fleet_labels
from tests.s3_support import (  # noqa: F401  (fixtures)
    COLD,
    HOT,
    artifact,
    content,
    moto_server_fixture,
    s3_fixture,
    seed_stored_artifacts,
)

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _recovery(db) -> list[dict]:
    with db.connect() as conn:
        return [
            dict(r._mapping)
            for r in conn.execute(text("SELECT * FROM artifact_recovery_log ORDER BY chain_seq"))
        ]


def _cold_artifact(db, s3, data: bytes) -> uuid.UUID:
    (a,) = seed_stored_artifacts(db, s3.store, [data], T0 - timedelta(days=60), T0)
    moved = move_to_cold(db, s3.store, s3.settings, T0 + timedelta(days=14), "test", 10)
    assert moved.affected == 1
    return a


def test_artifacts_restore_from_hot_verifies_and_clears_soft_delete(db, s3):
    """A soft-deleted artifact still in hot: its hash is checked, then it is live again."""
    # Given an artifact soft-deleted a few days ago (still in the hot bucket)
    (a,) = seed_stored_artifacts(db, s3.store, [content(1)], T0 - timedelta(days=60), T0)
    # When it is restored
    result = restore(db, s3.store, s3.settings, a, "ops@example")
    # Then it is live, from hot, and the attempt is logged with both hashes
    assert (result.outcome, result.source) == ("restored", "hot")
    assert artifact(db, a).soft_deleted_at is None
    (log,) = _recovery(db)
    assert log["outcome"] == "restored" and log["source"] == "hot"
    assert log["expected_sha256"] == log["actual_sha256"] == artifact(db, a).sha256


def test_artifacts_restore_from_cold_copies_back_and_verifies(db, s3):
    """A cold artifact: copied back to its hot key, checked, then live with cold fields cleared."""
    # Given an artifact moved to cold storage (no hot object left)
    a = _cold_artifact(db, s3, content(2))
    key = artifact(db, a).storage_key
    assert key not in s3.keys(HOT)
    # When it is restored
    result = restore(db, s3.store, s3.settings, a, "ops@example")
    # Then the hot object is back with the right bytes, and the row says live
    assert (result.outcome, result.source) == ("restored", "cold")
    assert s3.store.get(HOT, key) == content(2)
    row = artifact(db, a)
    assert row.soft_deleted_at is None and row.moved_to_cold_at is None
    assert row.cold_storage_key is None and row.hot_deleted_at is None


def test_artifacts_restore_refuses_altered_cold_object_and_changes_nothing(db, s3):
    """A cold object altered on the server: refused, logged as a security event, counted, nothing changed."""
    # Given a cold artifact whose cold object was overwritten on the server
    a = _cold_artifact(db, s3, content(3))
    before = artifact(db, a)
    s3.store.put(COLD, cold_key(before.sha256), b"not the artifact")
    labels = (*fleet_labels(s3.settings), "hash_mismatch")
    refused_before = ARTIFACT_RESTORE_REFUSALS.labels(*labels)._value.get()
    # When a restore is attempted
    with capture_logs() as logs:
        result = restore(db, s3.store, s3.settings, a, "ops@example")
    # Then it is refused with both hashes, the row and the hot bucket are as they were
    assert (result.outcome, result.reason, result.source) == ("refused", "hash_mismatch", "cold")
    assert result.actual_sha256 == hashlib.sha256(b"not the artifact").hexdigest()
    assert artifact(db, a) == before
    assert before.storage_key not in s3.keys(HOT)
    (log,) = _recovery(db)
    assert (log["outcome"], log["reason"]) == ("refused", "hash_mismatch")
    assert log["expected_sha256"] == before.sha256 != log["actual_sha256"]
    events = [e for e in logs if e["event"] == "artifact_restore_refused"]
    assert events and events[0]["security"] is True and "actor" not in events[0]
    assert ARTIFACT_RESTORE_REFUSALS.labels(*labels)._value.get() == refused_before + 1


def test_artifacts_restore_refuses_purged_and_live_artifacts(db, s3):
    """A purged artifact and one that was never deleted are refused with a clear reason."""
    # Given one purged and one live artifact
    purged, live = seed_stored_artifacts(
        db, s3.store, [content(4), content(5)], T0 - timedelta(days=60)
    )
    with db.begin() as conn:
        conn.execute(
            text(
                "UPDATE build_artifacts SET soft_deleted_at = :t, moved_to_cold_at = :t,"
                " cold_storage_key = 'x', purged_at = :t WHERE id = :id"
            ),
            {"t": T0, "id": purged},
        )
    # When both are restored, and an unknown id too
    results = [restore(db, s3.store, s3.settings, i, "ops") for i in (purged, live, uuid.uuid4())]
    # Then each is refused with its reason, and logged
    assert [r.reason for r in results] == ["purged", "not_deleted", "not_found"]
    assert [r["reason"] for r in _recovery(db)] == ["purged", "not_deleted", "not_found"]


def test_artifacts_restore_dry_run_verifies_and_changes_nothing(db, s3):
    """A dry run reads and checks the cold object, logs 'verified', and leaves the artifact cold."""
    # Given a cold artifact
    a = _cold_artifact(db, s3, content(6))
    before = artifact(db, a)
    # When a dry-run restore runs
    result = restore(db, s3.store, s3.settings, a, "ops", dry_run=True)
    # Then it would restore from cold, and nothing changed
    assert (result.outcome, result.source, result.dry_run) == ("verified", "cold", True)
    assert artifact(db, a) == before and before.storage_key not in s3.keys(HOT)
    assert _recovery(db)[0]["dry_run"] is True
