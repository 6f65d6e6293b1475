"""At-least-once delivery with exactly-once effect: killed workers, duplicate keys."""

from __future__ import annotations

import psycopg
import pytest

from tests.reliability_support import PROBES, blocked_on_lock, clear_broker, runs, state, wait_until


@pytest.fixture
def lock(services):
    """An advisory lock held by the test: a probe task waits on it, mid-task, until released."""
    conn = psycopg.connect(services.database_url, autocommit=True)
    conn.execute("SELECT pg_advisory_lock(7001)")
    yield conn
    conn.close()


def test_sigkill_of_a_pool_child_mid_task_redelivers_and_applies_once(
    db, services, start_worker, celery_app, lock
):
    """A child SIGKILLed mid-task: the message is redelivered, completes, its effect counted once."""
    # Given a worker whose task is blocked mid-run on the test's lock
    clear_broker(services)
    worker = start_worker(concurrency=1, SHEEN_EXTRA_TASK_MODULES=PROBES)
    result = celery_app.send_task("probe.effect", kwargs={"name": "child", "lock": 7001})
    wait_until(lambda: blocked_on_lock(services), 30, "the task to block on the lock")
    # When its pool child is SIGKILLed
    [child] = worker.children()
    child.kill()
    # Then the message is delivered again; released, it completes once
    wait_until(lambda: state(services).llen("probe:started:child") == 2, 30, "the redelivery")
    wait_until(lambda: blocked_on_lock(services), 30, "the redelivered task to block")
    lock.close()
    assert result.get(timeout=30) == {"effects": 1}
    assert int(state(services).get("probe:effect:child")) == 1
    assert [r["status"] for r in runs(db, "probe.effect")] == ["failure", "success"]


def test_sigkill_of_the_main_process_redelivers_after_the_visibility_timeout(
    db, services, start_worker, celery_app, lock
):
    """The whole worker SIGKILLed: a new worker gets the unacknowledged task back and runs it once."""
    # Given short time limits (scale 0.005: longest hard limit 9.15 s) and a 12 s visibility timeout
    clear_broker(services)
    env = {
        "SHEEN_EXTRA_TASK_MODULES": PROBES,
        "SHEEN_TIME_LIMIT_SCALE": "0.005",
        "SHEEN_VISIBILITY_TIMEOUT_SECONDS": "12",
    }
    first = start_worker(concurrency=1, **env)
    result = celery_app.send_task("probe.effect", kwargs={"name": "main", "lock": 7001})
    wait_until(lambda: blocked_on_lock(services), 30, "the task to block on the lock")
    # When the main process and its child are SIGKILLed, and a new worker starts
    first.kill()
    start_worker(concurrency=1, **env)
    # Then the new worker receives the task once the visibility timeout passed, and completes it
    wait_until(lambda: state(services).llen("probe:started:main") == 2, 60, "the redelivery")
    lock.close()
    assert result.get(timeout=30) == {"effects": 1}
    assert int(state(services).get("probe:effect:main")) == 1


def test_same_key_delivered_twice_in_sequence_runs_once(db, services, start_worker, celery_app):
    """Two messages with one idempotency key, one after the other: one effect, one recorded skip."""
    # Given
    clear_broker(services)
    start_worker(concurrency=1, SHEEN_EXTRA_TASK_MODULES=PROBES)
    headers = {"idempotency_key": "order-1"}
    # When
    first = celery_app.send_task("probe.effect", kwargs={"name": "seq"}, headers=headers)
    assert first.get(timeout=30) == {"effects": 1}
    second = celery_app.send_task("probe.effect", kwargs={"name": "seq"}, headers=headers)
    # Then
    assert second.get(timeout=30)["skipped"] is True
    assert int(state(services).get("probe:effect:seq")) == 1
    assert [r["status"] for r in runs(db, "probe.effect")] == ["success", "skipped"]


def test_same_key_delivered_concurrently_runs_once(db, services, start_worker, celery_app, lock):
    """Two messages with one key at the same time on two processes: one runs, the other is skipped."""
    # Given two pool processes, and the first message held mid-run by the lock
    clear_broker(services)
    start_worker(concurrency=2, SHEEN_EXTRA_TASK_MODULES=PROBES)
    kwargs = {"name": "conc", "lock": 7001, "idempotency_key": "dup"}
    first = celery_app.send_task("probe.effect", kwargs=kwargs)
    wait_until(lambda: blocked_on_lock(services), 30, "the first to block")
    # When the duplicate arrives while the first holds the key
    second = celery_app.send_task("probe.effect", kwargs=kwargs)
    skipped = second.get(timeout=30)
    lock.close()
    # Then the duplicate was skipped (in flight) and the first applied the effect once
    assert skipped == {"skipped": True, "reason": "in_flight", "idempotency_key": "dup"}
    assert first.get(timeout=30) == {"effects": 1}
    assert state(services).llen("probe:started:conc") == 1
    assert sorted(r["status"] for r in runs(db, "probe.effect")) == ["skipped", "success"]
