"""Done-marks in PostgreSQL: taken with the effect, exclusive across copies, kept by time."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from sheen.reliability.done_marks import is_done, keys_done, mark_done, prune, task_finished

JOB = "jobs.example"


def test_a_key_is_marked_once(db):
    """The first transaction takes the mark; a later one learns the key is already done."""
    # Given
    with db.begin() as conn:
        assert mark_done(conn, JOB, "k1", "t1")
    # When / Then
    with db.begin() as conn:
        assert not mark_done(conn, JOB, "k1", "t2")
    assert is_done(db, JOB, "k1")
    assert task_finished(db, "t1") and not task_finished(db, "t2")


def test_a_rolled_back_effect_leaves_the_key_not_done(db):
    """The mark commits with the effect or not at all: a failed transaction leaves no mark."""
    # When the transaction that took the mark fails
    try:
        with db.begin() as conn:
            assert mark_done(conn, JOB, "k2", "t1")
            raise RuntimeError("the effect failed")
    except RuntimeError:
        pass
    # Then another copy may still run the key
    assert not is_done(db, JOB, "k2")


def test_a_concurrent_copy_waits_for_the_first_and_then_finds_it_done(db):
    """Two copies at once: the second blocks on the mark until the first commits, then gets False."""
    # Given a first copy holding the mark in an open transaction
    first = db.connect()
    tx = first.begin()
    assert mark_done(first, JOB, "k3", "t1")
    results: list[bool] = []

    def second() -> None:
        with db.begin() as conn:
            results.append(mark_done(conn, JOB, "k3", "t2"))

    thread = threading.Thread(target=second)
    # When the second copy tries while the first is still open
    thread.start()
    time.sleep(0.5)
    assert results == []  # still waiting on the row lock
    tx.commit()
    first.close()
    thread.join(10)
    # Then
    assert results == [False]


def test_prune_deletes_only_marks_older_than_the_cutoff(db):
    """Marks are bounded by time: those older than the cutoff go, in batches; newer ones stay."""
    # Given 25 old marks and one fresh
    with db.begin() as conn:
        for n in range(25):
            mark_done(conn, JOB, f"old{n}", f"t{n}")
        conn.execute(text("UPDATE job_done_keys SET done_at = now() - interval '40 days'"))
        mark_done(conn, JOB, "fresh", "tf")
    # When
    deleted = prune(db, datetime.now(UTC) - timedelta(days=30), batch_size=10)
    # Then
    assert deleted == 25
    assert is_done(db, JOB, "fresh") and not is_done(db, JOB, "old0")


def test_keys_done_reads_marks_and_successful_runs(db):
    """A key counts as done with a done-mark or a successful run; a failed run does not count."""
    # Given
    with db.begin() as conn:
        mark_done(conn, JOB, "marked", "t1")
        conn.execute(
            text(
                "INSERT INTO job_runs (job, task_id, idempotency_key, status, error) VALUES"
                " (:j, 't2', 'ran', 'success', NULL), (:j, 't3', 'failed', 'failure', 'boom')"
            ),
            {"j": JOB},
        )
    # When
    done = keys_done(db, [(JOB, "marked"), (JOB, "ran"), (JOB, "failed"), (JOB, "never")])
    # Then
    assert done == {(JOB, "marked"), (JOB, "ran")}
