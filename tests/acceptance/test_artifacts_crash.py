"""A real worker SIGKILLed between the cold copy and the hot delete: the next run finishes it."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from sheen.artifacts import cold_key
from sheen.services.job_runs import runs_for_task
from tests.s3_support import (  # noqa: F401  (fixtures)
    COLD,
    HOT,
    content,
    flaky_s3_fixture,
    moto_server_fixture,
    s3_env,
    s3_fixture,
    seed_stored_artifacts,
)

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _rows(db):
    with db.connect() as conn:
        return conn.execute(
            text(
                "SELECT storage_key, sha256, moved_to_cold_at, hot_deleted_at FROM build_artifacts"
            )
        ).all()


def test_artifacts_worker_killed_between_copy_and_hot_delete(
    db, s3, flaky_s3, start_worker, celery_app
):
    """SIGKILL while the hot delete is in flight: both copies exist; the redelivery deletes hot once."""
    # Given 5 artifacts soft-deleted 14 days ago, and S3's hot-bucket delete held at the proxy
    seed_stored_artifacts(db, s3.store, [content(i) for i in range(5)], T0 - timedelta(days=60), T0)
    held = flaky_s3.hold(
        lambda method, path: method == "POST" and path.startswith(f"/{HOT}?delete")
    )
    worker = start_worker(concurrency=1, **s3_env(flaky_s3.url))
    # When the cold move runs until the hot delete, and its pool child is SIGKILLed there
    result = celery_app.send_task(
        "jobs.artifacts_cold_move", kwargs={"as_of": (T0 + timedelta(days=14)).isoformat()}
    )
    assert held.wait(60), "the move never reached the hot delete"
    rows = _rows(db)
    assert all(r.moved_to_cold_at is not None and r.hot_deleted_at is None for r in rows)
    assert {r.storage_key for r in rows} <= s3.keys(HOT), "hot objects are still there"
    assert {cold_key(r.sha256) for r in rows} <= s3.keys(COLD), "and so are the cold copies"
    (child,) = worker.children()
    child.kill()
    flaky_s3.release()  # the held delete is answered 503, never forwarded
    # Then the redelivered run finishes the hot delete: each artifact is in cold only
    value = result.get(timeout=90)
    assert value["swept"] == 5 and value["affected"] == 0
    rows = _rows(db)
    assert all(r.hot_deleted_at is not None for r in rows)
    assert s3.keys(HOT) == set()
    assert s3.keys(COLD) == {cold_key(r.sha256) for r in rows}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        statuses = [r["status"] for r in runs_for_task(db, result.id)]
        if statuses and statuses[-1] == "success":
            break
        time.sleep(0.1)
    assert statuses[0] == "failure" and statuses[-1] == "success"
    with db.connect() as conn:
        moves = conn.execute(
            text("SELECT count(*) FROM cleanup_audit_log WHERE action = 'move_to_cold'")
        ).scalar_one()
    assert moves == 5, "each move is recorded once"


def test_artifacts_restore_task_on_a_worker_runs_once_per_request(db, s3, start_worker, celery_app):
    """`artifacts.restore` on a real worker restores from cold; the same request again is skipped."""
    # Given a cold artifact (moved by the job on a worker)
    (a,) = seed_stored_artifacts(db, s3.store, [content("r")], T0 - timedelta(days=60), T0)
    start_worker(concurrency=1, **s3_env(s3.url))
    moved = celery_app.send_task(
        "jobs.artifacts_cold_move", kwargs={"as_of": (T0 + timedelta(days=14)).isoformat()}
    ).get(timeout=60)
    assert moved["affected"] == 1
    # When a restore is requested, twice with the same request id
    payload = {"artifact_id": str(a), "actor": "support", "request_id": "req-1"}
    first = celery_app.send_task("artifacts.restore", kwargs=payload).get(timeout=60)
    second = celery_app.send_task("artifacts.restore", kwargs=payload).get(timeout=60)
    # Then the first restores from cold, the second changes nothing and logs nothing more
    assert (first["outcome"], first["source"]) == ("restored", "cold")
    assert second is None or second.get("outcome") != "refused"
    with db.connect() as conn:
        attempts = conn.execute(text("SELECT count(*) FROM artifact_recovery_log")).scalar_one()
        live = conn.execute(
            text("SELECT soft_deleted_at IS NULL FROM build_artifacts WHERE id = :a"), {"a": a}
        ).scalar_one()
    assert attempts == 1 and live
