"""The directory store `make run` uses: the same lifecycle and restore, kept across restarts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from sheen.artifacts import DirectoryStore, LifecycleRule, move_to_cold, open_store, restore
from sheen.artifacts.store import StorageError
from sheen.settings import parse_settings

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _seed(db, store: DirectoryStore, bucket: str, data: bytes) -> uuid.UUID:
    artifact_id, build, user = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    key = f"artifacts/{build}/a.tar"
    digest = store.put(bucket, key, data)
    with db.begin() as conn:
        conn.execute(text("INSERT INTO auth.users (id) VALUES (:u)"), {"u": user})
        conn.execute(
            text(
                "INSERT INTO builds (id, project_id, user_id, status)"
                " VALUES (:b, gen_random_uuid(), :u, 'deployed')"
            ),
            {"b": build, "u": user},
        )
        conn.execute(
            text(
                "INSERT INTO build_artifacts (id, project_id, build_id, storage_key, sha256,"
                " size_bytes, created_at, soft_deleted_at)"
                " SELECT :id, project_id, id, :key, :sha, :n, :t, :t FROM builds WHERE id = :b"
            ),
            {"id": artifact_id, "key": key, "sha": digest, "n": len(data), "t": T0, "b": build},
        )
    return artifact_id


def test_artifacts_directory_store_moves_and_restores_after_a_restart(db, services, tmp_path):
    """file:// settings pick the directory store; a cold artifact restores with a fresh store."""
    # Given settings naming a folder as the object store, and a soft-deleted artifact in it
    settings = parse_settings(services.env(SHEEN_S3_ENDPOINT_URL=(tmp_path / "objects").as_uri()))
    store = open_store(settings)
    assert isinstance(store, DirectoryStore)
    a = _seed(db, store, settings.artifact_hot_bucket, b"bytes of a build" * 1000)
    # When it moves to cold, and the store is opened anew (as after a restart of `make run`)
    assert move_to_cold(db, store, settings, T0 + timedelta(days=14), "test", 10).affected == 1
    assert not any((tmp_path / "objects" / settings.artifact_hot_bucket).rglob("*.tar"))
    again = DirectoryStore(tmp_path / "objects")
    result = restore(db, again, settings, a, "ops")
    # Then the restore from cold succeeds with the same bytes
    assert (result.outcome, result.source) == ("restored", "cold")
    with db.connect() as conn:
        key = conn.execute(
            text("SELECT storage_key FROM build_artifacts WHERE id = :a"), {"a": a}
        ).scalar_one()
    assert again.get(settings.artifact_hot_bucket, key) == b"bytes of a build" * 1000
    again.put_lifecycle_rule("b", LifecycleRule("cold-storage/", 30, "GLACIER"))
    assert again.lifecycle_rules("b") == [LifecycleRule("cold-storage/", 30, "GLACIER")]


def test_artifacts_directory_store_refuses_keys_leaving_the_bucket(tmp_path):
    """A key with `..` cannot reach outside its bucket folder."""
    # Given a directory store; When a key climbs out of its bucket; Then it is refused
    store = DirectoryStore(tmp_path)
    with pytest.raises(StorageError, match="leaves the bucket"):
        store.put("hot", "../../etc/x", b"x")
    assert not (tmp_path.parent / "etc").exists()
