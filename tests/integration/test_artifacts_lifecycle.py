"""The artifact lifecycle against a real S3 API (moto server over HTTP) with a clock we set."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from sheen.artifacts import cold_key, move_to_cold, purge, soft_delete_stale, verify
from sheen.errors import TransientError
from tests.s3_support import (  # noqa: F401  (fixtures)
    COLD,
    HOT,
    artifact,
    content,
    flaky_s3_fixture,
    moto_server_fixture,
    s3_fixture,
    seed_stored_artifacts,
)

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
JOB = "test"


def _audit(db, artifact_id) -> list[str]:
    with db.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT action FROM cleanup_audit_log WHERE artifact_id = :a ORDER BY chain_seq"
                ),
                {"a": artifact_id},
            ).scalars()
        )


def test_artifacts_whole_lifecycle_soft_delete_cold_purge(db, s3):
    """Soft delete, then cold after 14 days (hot gone, content-addressed key), then purge."""
    # Given two stale artifacts with their hot objects
    ids = seed_stored_artifacts(db, s3.store, [content(1), content(2)], T0 - timedelta(days=60))
    settings = s3.settings
    # When the cleanup soft-deletes them at T0
    assert soft_delete_stale(db, T0, timedelta(days=30), 0, 10).affected == 2
    # Then 13 days later nothing moves; 14 days later both move
    assert move_to_cold(db, s3.store, settings, T0 + timedelta(days=13), JOB, 10).affected == 0
    moved = move_to_cold(db, s3.store, settings, T0 + timedelta(days=14), JOB, 10)
    assert moved.affected == 2 and moved.extra["copied"] == 2
    row = artifact(db, ids[0])
    digest = hashlib.sha256(content(1)).hexdigest()
    assert row.cold_storage_key == f"cold-storage/{digest[:2]}/{digest[2:4]}/{digest}"
    assert row.moved_to_cold_at == T0 + timedelta(days=14) and row.hot_deleted_at is not None
    assert s3.keys(HOT) == set()
    assert s3.keys(COLD) == {cold_key(artifact(db, i).sha256) for i in ids}
    # And a rerun is a no-op
    assert move_to_cold(db, s3.store, settings, T0 + timedelta(days=14), JOB, 10).affected == 0
    # When the cold retention has passed, both are purged and the cold objects deleted
    retention = timedelta(days=settings.artifact_cold_retention_days)
    early = purge(db, s3.store, settings, T0 + timedelta(days=14) + retention / 2, JOB, 10)
    assert early.affected == 0
    done = purge(db, s3.store, settings, T0 + timedelta(days=14) + retention, JOB, 10)
    assert done.affected == 2 and s3.keys(COLD) == set()
    assert artifact(db, ids[1]).purged_at is not None
    assert _audit(db, ids[0]) == ["soft_delete", "move_to_cold", "purge"]
    assert verify(db, "cleanup_audit_log").ok


def test_artifacts_dedup_stores_once_and_purge_keeps_shared_content(db, s3):
    """Two artifacts with one content share one cold object; it goes only with the last one."""
    # Given A soft-deleted at T0 and B (same bytes) soft-deleted 10 days later
    same = content("same")
    a, b = seed_stored_artifacts(db, s3.store, [same, same], T0 - timedelta(days=60))
    settings = s3.settings
    with db.begin() as conn:
        conn.execute(
            text("UPDATE build_artifacts SET soft_deleted_at = :t WHERE id = :id"),
            [{"t": T0, "id": a}, {"t": T0 + timedelta(days=10), "id": b}],
        )
    # When both are moved (A first, B on a later run)
    first = move_to_cold(db, s3.store, settings, T0 + timedelta(days=14), JOB, 10)
    second = move_to_cold(db, s3.store, settings, T0 + timedelta(days=24), JOB, 10)
    # Then the content is stored once and B reused it
    assert (first.extra["copied"], second.extra["reused"]) == (1, 1)
    assert s3.keys(COLD) == {cold_key(hashlib.sha256(same).hexdigest())}
    assert s3.keys(HOT) == set()
    # When A's retention ends (B's not yet): A is purged, the shared object stays
    retention = timedelta(days=settings.artifact_cold_retention_days)
    assert purge(db, s3.store, settings, T0 + timedelta(days=14) + retention, JOB, 10).extra == {
        "objects_deleted": 0,
        "shared": 1,
    }
    assert artifact(db, a).purged_at is not None and artifact(db, b).purged_at is None
    assert len(s3.keys(COLD)) == 1
    # When B's retention ends too: the object goes
    last = purge(db, s3.store, settings, T0 + timedelta(days=24) + retention, JOB, 10)
    assert last.affected == 1 and last.extra["objects_deleted"] == 1
    assert s3.keys(COLD) == set()


def test_artifacts_s3_errors_mid_batch_are_retried_and_nothing_is_lost(db, s3, flaky_s3):
    """Injected 503s: brief ones are retried by the client, lasting ones fail the run; a rerun finishes."""
    # Given 6 soft-deleted artifacts, and an S3 that fails every copy of two of them
    ids = seed_stored_artifacts(
        db, s3.store, [content(i) for i in range(6)], T0 - timedelta(days=60), T0
    )
    shas = [artifact(db, i).sha256 for i in ids]
    settings, store = s3.configured(flaky_s3.url, SHEEN_S3_MAX_ATTEMPTS="3")
    flaky_s3.fail(lambda m, p: m == "PUT" and shas[1] in p)
    flaky_s3.fail(lambda m, p: m == "PUT" and shas[4] in p)
    flaky_s3.fail(lambda m, p: m == "POST" and "delete" in p, times=2)  # retried by boto3
    # When the move runs
    with pytest.raises(TransientError, match="2 artifacts could not be copied"):
        move_to_cold(db, store, settings, T0 + timedelta(days=14), JOB, 4)
    # Then the four others are moved, the two failed ones are still hot, none is lost
    rows = {i: artifact(db, i) for i in ids}
    assert sorted(i for i, r in rows.items() if r.moved_to_cold_at is None) == sorted(
        [ids[1], ids[4]]
    )
    for i, r in rows.items():
        in_hot, in_cold = r.storage_key in s3.keys(HOT), cold_key(r.sha256) in s3.keys(COLD)
        assert in_hot or in_cold, f"{i} is in neither bucket"
    assert flaky_s3.failed >= 2 * 3 + 2
    # When S3 recovers and the job is retried: everything is moved, each in exactly one place
    flaky_s3.heal()
    again = move_to_cold(db, store, settings, T0 + timedelta(days=14), JOB, 4)
    assert again.affected == 2
    assert s3.keys(HOT) == set()
    assert s3.keys(COLD) == {cold_key(s) for s in shas}


def test_artifacts_move_refuses_hot_object_that_does_not_match(db, s3):
    """A hot object altered after it was recorded is not moved (and not stored under the hash)."""
    # Given a soft-deleted artifact whose hot object was overwritten
    (a,) = seed_stored_artifacts(db, s3.store, [content(7)], T0 - timedelta(days=60), T0)
    s3.store.put(HOT, artifact(db, a).storage_key, b"tampered")
    # When the move runs
    totals = move_to_cold(db, s3.store, s3.settings, T0 + timedelta(days=14), JOB, 10)
    # Then it is refused: the row is unchanged, the hot object stays, nothing in cold
    assert totals.extra["mismatch"] == 1 and totals.affected == 0
    assert artifact(db, a).moved_to_cold_at is None
    assert s3.keys(COLD) == set() and len(s3.keys(HOT)) == 1


def test_artifacts_lifecycle_rule_applied_and_read_back(s3, db):
    """`sheen-ops artifacts lifecycle apply` puts the archive rule on the cold prefix, read back from S3."""
    from click.testing import CliRunner

    from sheen.cli.main import _register, cli

    _register()

    # When the rule is applied through the CLI against the test server
    env = {
        "SHEEN_S3_ENDPOINT_URL": s3.url,
        "SHEEN_S3_ACCESS_KEY_ID": "testing",
        "SHEEN_S3_SECRET_ACCESS_KEY": "testing",
        "SHEEN_ARTIFACT_COLD_BUCKET": COLD,
        "SHEEN_ARTIFACT_ARCHIVE_AFTER_DAYS": "45",
        "SHEEN_ARTIFACT_ARCHIVE_STORAGE_CLASS": "DEEP_ARCHIVE",
    }
    from sheen.settings import load_settings

    load_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["artifacts", "lifecycle", "apply", "--json"], env=env)
    finally:
        load_settings.cache_clear()
    # Then the server holds a rule for cold-storage/ with that transition
    assert result.exit_code == 0, result.output
    rules = s3.store.client.get_bucket_lifecycle_configuration(Bucket=COLD)["Rules"]
    assert rules[0]["Filter"] == {"Prefix": "cold-storage/"}
    assert rules[0]["Transitions"] == [{"Days": 45, "StorageClass": "DEEP_ARCHIVE"}]


def test_artifacts_cli_show_restore_and_jobs_list(db, s3):
    """`artifacts show` tells where it is and its history; `restore` exits 1 on a refusal; jobs list has the steps."""
    import json

    from click.testing import CliRunner

    from sheen.cli.main import _register, cli
    from sheen.settings import load_settings

    _register()
    # Given a cold artifact and a purged one
    a, p = seed_stored_artifacts(
        db, s3.store, [content("c"), content("p")], T0 - timedelta(days=60), T0
    )
    move_to_cold(db, s3.store, s3.settings, T0 + timedelta(days=14), JOB, 10)
    with db.begin() as conn:
        conn.execute(
            text("UPDATE build_artifacts SET purged_at = :t WHERE id = :p"), {"t": T0, "p": p}
        )
    env = {
        "SHEEN_S3_ENDPOINT_URL": s3.url,
        "SHEEN_S3_ACCESS_KEY_ID": "testing",
        "SHEEN_S3_SECRET_ACCESS_KEY": "testing",
        "SHEEN_ARTIFACT_HOT_BUCKET": HOT,
        "SHEEN_ARTIFACT_COLD_BUCKET": COLD,
    }
    runner = CliRunner()
    load_settings.cache_clear()
    try:
        # When an operator looks, restores both, and lists the jobs
        shown = runner.invoke(cli, ["artifacts", "show", str(a), "--json"], env=env)
        dry = runner.invoke(cli, ["artifacts", "restore", str(a), "--dry-run"], env=env)
        refused = runner.invoke(cli, ["artifacts", "restore", str(p)], env=env)
        jobs = runner.invoke(cli, ["jobs", "list", "--json"], env=env)
    finally:
        load_settings.cache_clear()
    # Then show says cold with its history, the dry run passes, the purged one is refused
    info = json.loads(shown.output)
    assert (info["state"], info["where"]) == ("cold", "cold")
    assert [h["what"] for h in info["history"]] == ["move_to_cold"]  # seeded soft-deleted
    assert dry.exit_code == 0 and "would be restored from cold" in dry.output
    assert refused.exit_code == 1 and "restore refused: purged" in refused.output
    names = {j["name"] for j in json.loads(jobs.output)}
    assert {"jobs.cleanup_artifacts", "jobs.artifacts_cold_move", "jobs.artifacts_purge"} <= names
