"""migration.verify on a real worker: SIGKILLed half-way through 1,000 files, redelivered, resumed."""

from __future__ import annotations

import os
import signal
import time

from sqlalchemy import text

from tests.verification_support import Signer, SiteBehaviour, make_tree, manifest_for, serve

FILES = 1000


def _count(engine, sql: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql)).scalar_one())


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_sigkill_half_way_then_redelivery_completes_with_one_row_per_file(
    db, services, start_worker, celery_app, tmp_path
):
    """The pool child dies mid-run: the same run resumes, fetches only what is missing, one row per file."""
    # Given a site of 1,000 files answering in 20 ms each, and a worker that trusts the signer
    signer = Signer()
    root = make_tree(tmp_path / "site", count=FILES, size=256)
    behaviour = SiteBehaviour()
    with serve(root, behaviour) as (base, _):
        manifest = manifest_for(root, base)
        behaviour.delay.update({p.relative_to(root).as_posix(): 0.02 for p in root.rglob("*.txt")})
        worker = start_worker(
            concurrency=1,
            SHEEN_MANIFEST_PUBLIC_KEYS=signer.public,
            SHEEN_VERIFICATION_CONCURRENCY="4",
        )
        # When the verification runs until a few hundred rows exist and its child is SIGKILLed
        result = celery_app.send_task(
            "migration.verify",
            kwargs={
                "manifest": manifest.decode(),
                "signature": signer.sign(manifest).decode(),
                "environment": "ci",
            },
        )
        rows_sql = "SELECT count(*) FROM migration_verification_results WHERE kind = 'file'"
        _wait(lambda: _count(db, rows_sql) >= 200, 60, "the first batches of rows")
        [child] = worker.children()
        before_kill = _count(db, rows_sql)
        os.kill(child.pid, signal.SIGKILL)
        assert before_kill < FILES, "the run must be killed half-way"
        # Then the redelivered task finishes the same run
        value = result.get(timeout=120)
        requests = len(behaviour.requests)
    assert value["result"] == "success", value
    with db.connect() as conn:
        runs = conn.execute(
            text("SELECT run_id, files_total FROM migration_verification_runs")
        ).all()
        per_file = conn.execute(
            text(
                "SELECT count(*), count(DISTINCT path) FROM migration_verification_results WHERE kind = 'file'"
            )
        ).one()
    assert len(runs) == 1 and str(runs[0].run_id) == value["run_id"]
    assert runs[0].files_total == FILES
    assert tuple(per_file) == (FILES, FILES), "exactly one row per file for the run"
    assert _count(db, "SELECT count(*) FROM verified_releases") == 1
    # and what was recorded before the kill was not fetched again (at most one unflushed batch)
    assert requests <= FILES + 200 + 2 * 4, requests  # one unflushed batch + fetches queued
    assert requests >= FILES
