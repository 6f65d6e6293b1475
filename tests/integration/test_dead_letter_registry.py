"""The dead-letter registry on real Redis: add, read, requeue, purge, and speed at 100,000."""

from __future__ import annotations

import json
import statistics
import time

import pytest
from kombu import Connection
from sqlalchemy import text

from sheen.deadletters import DeadLetter
from sheen.deadletters import operations as ops
from sheen.deadletters.digest import build_digest, normalise
from sheen.deadletters.registry import EXCHANGE, QUEUE
from tests.reliability_support import clear_broker, dlq


@pytest.fixture
def registry(db, services):
    clear_broker(services)
    return dlq(services)


def _letter(n: int, job: str = "jobs.a", at: float | None = None) -> DeadLetter:
    return DeadLetter(
        id=f"id-{n}",
        task_id=f"id-{n}",
        task=job,
        reason="permanent",
        kwargs={"n": n},
        headers={"trace_id": f"trace-{n}", "idempotency_key": f"k{n}", "argsrepr": "dropped"},
        exc_type="RuntimeError",
        exc_message=f"row {n} locked",
        dead_lettered_at=at or time.time(),
    )


def test_letters_are_listed_and_shown_without_being_consumed(registry):
    """add/get/list/latest/count_by_job read the letters; the broker queue still holds them all."""
    # Given
    for n in range(5):
        registry.add(_letter(n, "jobs.a" if n < 3 else "jobs.b", at=1000.0 + n))
    # When / Then
    assert len(registry) == 5 and "id-1" in registry
    assert registry.get("id-4").kwargs == {"n": 4}
    assert registry.get("id-4").headers == {"trace_id": "trace-4", "idempotency_key": "k4"}
    assert [x.id for x in registry.latest(2)] == ["id-4", "id-3"]
    assert [x.id for x in registry.list(job="jobs.a")] == ["id-2", "id-1", "id-0"]
    assert [x.id for x in registry.list(since=1003.0)] == ["id-4", "id-3"]
    assert registry.count_by_job() == {"jobs.a": 3, "jobs.b": 2}
    assert registry.queue_length() == 5
    assert not registry.add(_letter(1)), "the same task is dead-lettered once"


def test_the_queue_is_a_kombu_queue_on_its_exchange(registry, services):
    """The letters sit in a durable kombu queue bound to the dead-letter exchange; kombu can read them."""
    # Given
    registry.declare(services.broker_url)
    registry.add(_letter(1))
    # When a plain kombu consumer peeks at the queue
    with Connection(services.broker_url) as conn:
        message = conn.default_channel.basic_get(QUEUE, no_ack=False)
        body = json.loads(message.body)
        message.requeue()
        bindings = conn.default_channel.client.smembers(f"_kombu.binding.{EXCHANGE}")
    # Then
    assert body["id"] == "id-1" and body["reason"] == "permanent"
    assert any(QUEUE.encode() in b for b in bindings)
    assert registry.queue_length() == 1


def test_requeue_publishes_to_the_original_queue_and_removes_the_letter(registry, services, db):
    """Requeue pushes a Celery message with the letter's key and a link back, then drops the letter."""
    # Given
    registry.add(_letter(1))
    # When
    outcome = ops.requeue(registry, db, ["id-1", "missing"], "tester")
    # Then
    assert (outcome.done, outcome.missing) == (["id-1"], ["missing"])
    assert len(registry) == 0 and registry.queue_length() == 0
    raw = registry.client.lrange("jobs", 0, -1)
    assert len(raw) == 1
    headers = json.loads(raw[0])["headers"]
    assert headers["task"] == "jobs.a" and headers["dead_letter_id"] == "id-1"
    assert headers["idempotency_key"] == "k1" and headers["trace_id"] == "trace-1"
    with db.connect() as conn:
        rows = conn.execute(
            text("SELECT action, letter_id, job, actor FROM dead_letter_audit")
        ).all()
    assert rows == [("requeue", "id-1", "jobs.a", "tester")]


def test_dry_run_changes_nothing(registry, db):
    """A dry-run requeue reports what it would do and leaves letters, queues and audit alone."""
    registry.add(_letter(1))
    outcome = ops.requeue(registry, db, ["id-1"], "tester", dry_run=True)
    assert outcome.done == ["id-1"]
    assert len(registry) == 1 and registry.client.llen("jobs") == 0
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM dead_letter_audit")).scalar_one() == 0


def test_purge_by_many_ids_keeps_the_others(registry, db):
    """Purging 30 of 40 letters (one list rewrite) keeps exactly the other 10, in order."""
    for n in range(40):
        registry.add(_letter(n, at=1000.0 + n))
    outcome = ops.purge(registry, db, [f"id-{n}" for n in range(30)], "tester")
    assert len(outcome.done) == 30
    assert len(registry) == 10 and registry.queue_length() == 10
    assert registry.count_by_job() == {"jobs.a": 10}
    left = [
        json.loads(x)["headers"]["dead_letter_id"] for x in registry.client.lrange(QUEUE, 0, -1)
    ]
    assert left == [f"id-{n}" for n in range(39, 29, -1)]


def test_counts_and_latest_stay_fast_with_100000_letters(registry):
    """With 100,000 letters, count_by_job and latest(20) answer with P95 under 50 ms."""
    # Given 100,000 letters over 10 jobs
    pipe = registry.client.pipeline(transaction=False)
    for n in range(100_000):
        letter = _letter(n, f"jobs.j{n % 10}", at=1000.0 + n)
        registry._add(
            keys=[
                "sheen:dlq:raw",
                "sheen:dlq:by_time",
                f"sheen:dlq:by_job:{letter.job}",
                "sheen:dlq:counts",
                QUEUE,
            ],
            args=[
                letter.id,
                __import__("sheen.deadletters.registry", fromlist=["envelope"]).envelope(letter),
                letter.dead_lettered_at,
                letter.job,
            ],
            client=pipe,
        )
        if n % 5000 == 4999:
            pipe.execute()
    pipe.execute()
    assert len(registry) == 100_000
    # When
    timings = []
    for _ in range(40):
        began = time.perf_counter()
        counts = registry.count_by_job()
        latest = registry.latest(20)
        timings.append(time.perf_counter() - began)
    # Then
    assert sum(counts.values()) == 100_000 and latest[0].id == "id-99999"
    p95 = statistics.quantiles(timings, n=20)[-1]
    assert p95 < 0.05, f"P95 {p95 * 1000:.1f} ms"


def test_digest_groups_by_fingerprint():
    """Messages differing only in numbers, uuids or hex ids fall in one group."""
    assert normalise("row 17 of 8b1f3c2a-1111-2222-3333-444455556666 at 0xdeadbeef1") == (
        "row <n> of <uuid> at <hex>"
    )
    letters = [_letter(n, at=100.0 + n) for n in range(3)] + [
        DeadLetter(
            task="jobs.b",
            reason="timeout",
            exc_type="SoftTimeLimitExceeded",
            dead_lettered_at=150.0,
        )
    ]
    digest = build_digest(letters, 0, 3600, 200.0, letters[0])
    assert [(g.job, g.count, g.first_seen, g.last_seen) for g in digest.groups] == [
        ("jobs.a", 3, 100.0, 102.0),
        ("jobs.b", 1, 150.0, 150.0),
    ]
    assert digest.total == 4 and digest.oldest_age_seconds == 100.0


def test_the_audit_table_is_append_only(db):
    """The database refuses UPDATE and DELETE on dead_letter_audit."""
    from sqlalchemy.exc import DBAPIError

    from sheen.deadletters import audit

    audit.record(db, "purge", {"l1": "jobs.x"}, "tester")
    for statement in ("UPDATE dead_letter_audit SET actor = 'x'", "DELETE FROM dead_letter_audit"):
        with pytest.raises(DBAPIError, match="append-only"), db.begin() as conn:
            conn.execute(text(statement))
