"""The idempotency registry on real Redis: done keys, leases, delivery counts, trimming."""

from __future__ import annotations

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
    assert registry.claim(JOB, "2026-11-25", "t1", 0, 60, 3).state == "run"
    registry.complete(JOB, "2026-11-25", "t1")
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


def test_only_the_newest_100_keys_are_kept(registry):
    """Completing 150 keys leaves the newest 100 in the job's set; the oldest are trimmed."""
    # When
    for n in range(150):
        registry.claim(JOB, f"k{n:03}", f"t{n}", 0, 60, 3)
        registry.complete(JOB, f"k{n:03}", f"t{n}")
    # Then
    kept = registry.done_keys(JOB)
    assert len(kept) == 100
    assert kept[0] == "k050" and kept[-1] == "k149"


def test_a_dead_holders_lease_expires(registry):
    """A lease whose holder died (never completed) frees the key after its TTL."""
    # Given a lease of 1 s held by a task that will never finish
    assert registry.claim(JOB, "k", "dead", 0, 1, 3).state == "run"
    assert registry.claim(JOB, "k", "other", 0, 60, 3).state == "busy"
    # When the TTL passes
    time.sleep(1.2)
    # Then another message may run it
    assert registry.claim(JOB, "k", "other", 0, 60, 3).state == "run"


def test_a_redelivered_message_takes_its_own_lease_over(registry):
    """The same task id delivered again (its worker died) runs at once, despite its old lease."""
    assert registry.claim(JOB, "k", "t1", 0, 60, 3).state == "run"
    assert registry.claim(JOB, "k", "t1", 0, 60, 3).state == "run"


def test_deliveries_beyond_the_maximum_are_poison(registry):
    """The 4th delivery of a message with max 3 answers `poison`; a retry counts afresh."""
    states = [registry.claim(JOB, "p", "t1", 0, 60, 3).state for _ in range(4)]
    assert states == ["run", "run", "run", "poison"]
    assert registry.claim(JOB, "p", "t1", 1, 60, 3).state == "run"


def test_a_failed_run_releases_its_key(registry):
    """A run that failed releases the lease and does not mark the key done."""
    registry.claim(JOB, "f", "t1", 0, 60, 3)
    registry.release(JOB, "f", "t1")
    assert not registry.is_done(JOB, "f")
    assert registry.claim(JOB, "f", "t2", 0, 60, 3).state == "run"


def test_derived_keys_ignore_argument_order():
    """The derived key is the same for the same arguments in any order, and differs by task."""
    assert derive_key("a", {"x": 1, "y": 2}) == derive_key("a", {"y": 2, "x": 1})
    assert derive_key("a", {"x": 1}) != derive_key("b", {"x": 1})


def test_a_poison_pill_drops_its_own_lease(registry):
    """Once a message is declared poison, its lease is gone: a requeue of its letter can run."""
    for _ in range(3):
        assert registry.claim(JOB, "pp", "t1", 0, 600, 3).state == "run"
    assert registry.claim(JOB, "pp", "t1", 0, 600, 3).state == "poison"
    assert registry.claim(JOB, "pp", "t2", 0, 600, 3).state == "run"


def test_a_requeued_letter_takes_over_the_dead_tasks_lease(registry):
    """A lease left by a dead-lettered task (hard timeout) does not block the requeue of its letter."""
    assert registry.claim(JOB, "hk", "t1", 0, 600, 3).state == "run"  # then killed, acked, lettered
    assert (
        registry.claim(JOB, "hk", "t9", 0, 600, 3).state == "busy"
    )  # an unrelated duplicate waits
    assert registry.claim(JOB, "hk", "t2", 0, 600, 3, requeued_from="t1").state == "run"
