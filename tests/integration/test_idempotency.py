"""The idempotency registry on real Redis: done keys, leases, delivery counts, retention."""

from __future__ import annotations

import os
import threading
import time

import pytest

from sheen.reliability.idempotency import IdempotencyRegistry, derive_key
from tests.reliability_support import idem

JOB = "jobs.example"


@pytest.fixture
def registry(db, services) -> IdempotencyRegistry:
    return idem(services)


def test_a_done_key_is_not_run_again(registry):
    """Sequential: the second claim of a completed key answers `done`."""
    # Given a key that ran and completed
    first = registry.claim(JOB, "2026-11-25", "t1", 0, 60, 3)
    assert first.state == "run"
    registry.complete(JOB, "2026-11-25", "t1", first.holder)
    # When another message claims it
    second = registry.claim(JOB, "2026-11-25", "t2", 0, 60, 3)
    # Then
    assert second.state == "done"


def test_concurrent_claims_let_exactly_one_run(registry):
    """Concurrent: of 20 simultaneous claims of one key, exactly one may run."""
    # Given 20 threads released at once
    barrier = threading.Barrier(20)
    states: list[str] = []

    def claim(n: int) -> None:
        barrier.wait()
        states.append(registry.claim(JOB, "k", f"t{n}", 0, 60, 3).state)

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(20)]
    # When
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Then
    assert sorted(states).count("run") == 1
    assert states.count("busy") == 19


def test_done_keys_stay_done_for_the_retention_however_many_finish(registry):
    """150 completed keys all stay done (the newest 100 are shown); none is trimmed by count."""
    # When
    for n in range(150):
        claim = registry.claim(JOB, f"k{n:03}", f"t{n}", 0, 60, 3)
        registry.complete(JOB, f"k{n:03}", f"t{n}", claim.holder)
    # Then every key is still done, and operators are shown the newest 100
    assert all(registry.is_done(JOB, f"k{n:03}") for n in range(150))
    assert registry.claim(JOB, "k000", "late-copy", 0, 60, 3).state == "done"
    kept = registry.done_keys(JOB)
    assert len(kept) == 100
    assert kept[0] == "k050" and kept[-1] == "k149"


def test_done_keys_expire_after_the_retention(services, db):
    """A done key older than the retention no longer counts, and is dropped on the next completion."""
    # Given a registry keeping done keys for 1 s
    short = IdempotencyRegistry(idem(services).client, retention_seconds=1)
    claim = short.claim(JOB, "old", "t1", 0, 60, 3)
    short.complete(JOB, "old", "t1", claim.holder)
    assert short.is_done(JOB, "old")
    # When the retention passes and another key completes
    time.sleep(1.2)
    other = short.claim(JOB, "new", "t2", 0, 60, 3)
    short.complete(JOB, "new", "t2", other.holder)
    # Then the old key is gone from the set; memory is bounded by time
    assert not short.is_done(JOB, "old")
    assert short.client.zscore(short.done_key(JOB), "old") is None


def test_a_dead_holders_lease_expires(registry):
    """A lease whose holder died (never completed) frees the key after its TTL."""
    # Given a lease of 1 s held by a task that will never finish
    assert registry.claim(JOB, "k", "dead", 0, 1, 3).state == "run"
    assert registry.claim(JOB, "k", "other", 0, 60, 3).state == "busy"
    # When the TTL passes
    time.sleep(1.2)
    # Then another message may run it
    assert registry.claim(JOB, "k", "other", 0, 60, 3).state == "run"


def test_a_second_copy_of_a_live_task_id_is_held_not_run(registry):
    """Two deliveries of one task id: while the first holds the lease, the second is `held`."""
    # Given a delivery of t1 holding the key
    assert registry.claim(JOB, "k", "t1", 0, 60, 3).state == "run"
    # When a second copy with the same task id arrives
    second = registry.claim(JOB, "k", "t1", 0, 60, 3)
    # Then it may not run beside it, and learns how long the lease has left
    assert second.state == "held"
    assert 50 < second.lease_left_seconds <= 60


def test_a_retry_published_by_the_holder_takes_its_lease_over(registry):
    """Retry 1 of t1 arrives while attempt 0 still holds the key (it is finishing up): it runs."""
    assert registry.claim(JOB, "k", "t1", 0, 60, 3).state == "run"
    assert registry.claim(JOB, "k", "t1", 1, 60, 3).state == "run"
    # a deferred copy of attempt 1 (retries 2, one deferral) is the same attempt: held
    assert registry.claim(JOB, "k", "t1", 2, 60, 3, attempt=1).state == "held"


def test_a_dead_childs_lease_is_released_by_its_main_process(registry):
    """The lease of a child that died (pid named in its token) is dropped; the redelivery runs."""
    # Given a lease taken by this process (its token names our pid)
    assert registry.claim(JOB, "k", "t1", 0, 60, 3).state == "run"
    # When another pid is reported dead, nothing changes; when ours is, the lease goes
    assert not registry.release_dead("t1", os.getpid() + 1)
    assert registry.claim(JOB, "k", "t1", 0, 60, 3).state == "held"
    assert registry.release_dead("t1", os.getpid())
    # Then the redelivery of t1 runs at once
    assert registry.claim(JOB, "k", "t1", 0, 60, 3).state == "run"


def test_deliveries_beyond_the_maximum_are_poison(registry):
    """The 4th delivery of a message with max 3 answers `poison`; a retry counts afresh."""
    states = []
    for _ in range(4):
        states.append(registry.claim(JOB, "p", "t1", 0, 60, 3).state)
        registry.release_dead("t1", os.getpid())  # each delivery's child died
    assert states == ["run", "run", "run", "poison"]
    assert registry.claim(JOB, "p", "t1", 1, 60, 3).state == "run"


def test_a_failed_run_releases_its_key(registry):
    """A run that failed releases the lease and does not mark the key done."""
    claim = registry.claim(JOB, "f", "t1", 0, 60, 3)
    registry.release(JOB, "f", "t1", claim.holder)
    assert not registry.is_done(JOB, "f")
    assert registry.claim(JOB, "f", "t2", 0, 60, 3).state == "run"


def test_derived_keys_ignore_argument_order():
    """The derived key is the same for the same arguments in any order, and differs by task."""
    assert derive_key("a", {"x": 1, "y": 2}) == derive_key("a", {"y": 2, "x": 1})
    assert derive_key("a", {"x": 1}) != derive_key("b", {"x": 1})


def test_a_poison_pill_drops_its_own_lease(registry):
    """Once a message is declared poison, its lease is gone: a requeue of its letter can run."""
    # Given two deliveries whose children died, and a third that still holds the lease
    for n in range(3):
        assert registry.claim(JOB, "pp", "t1", 0, 600, 3).state == "run"
        if n < 2:
            registry.release_dead("t1", os.getpid())
    # When the fourth delivery is declared poison
    assert registry.claim(JOB, "pp", "t1", 0, 600, 3).state == "poison"
    # Then the lease is gone
    assert registry.claim(JOB, "pp", "t2", 0, 600, 3).state == "run"


def test_a_requeued_letter_takes_over_the_dead_tasks_lease(registry):
    """A lease left by a dead-lettered task (hard timeout) does not block the requeue of its letter."""
    assert registry.claim(JOB, "hk", "t1", 0, 600, 3).state == "run"  # then killed, acked, lettered
    assert (
        registry.claim(JOB, "hk", "t9", 0, 600, 3).state == "busy"
    )  # an unrelated duplicate waits
    assert registry.claim(JOB, "hk", "t2", 0, 600, 3, requeued_from="t1").state == "run"
