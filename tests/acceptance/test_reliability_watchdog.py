"""The watchdog and retries: hangs stop at 3x the expected runtime; transient errors back off."""

from __future__ import annotations

import time

import pytest

from tests.reliability_support import PROBES, clear_broker, dlq, letter_for, runs, state

# Time limits at a tenth: fleet.test_alert (expected 10 s) stops at 3 s (soft), 6 s (hard).
FAST = {
    "SHEEN_EXTRA_TASK_MODULES": PROBES,
    "SHEEN_TIME_LIMIT_SCALE": "0.1",
    "SHEEN_RETRY_BACKOFF_SECONDS": "0.05",
}


@pytest.fixture
def worker(db, services, start_worker, celery_app):
    clear_broker(services)
    return start_worker(concurrency=2, **FAST)


def test_a_hang_is_stopped_at_three_times_its_expected_runtime(worker, services, db, celery_app):
    """A hang past its soft limit (3x expected) is dead-lettered `timeout`; the worker keeps serving."""
    # When
    began = time.monotonic()
    result = celery_app.send_task("fleet.test_alert", kwargs={"mode": "hang", "nonce": "h1"})
    letter = letter_for(services, result.id, timeout=20)
    elapsed = time.monotonic() - began
    # Then
    assert (letter.reason, letter.exc_type) == ("timeout", "SoftTimeLimitExceeded")
    assert 2.9 <= elapsed < 6.0, elapsed
    assert [r["status"] for r in runs(db, "fleet.test_alert")] == ["timeout"]
    assert celery_app.send_task("fleet.ping").get(timeout=10) == {"pong": True}


def test_past_the_hard_limit_the_process_is_killed_and_still_recorded(
    worker, services, db, celery_app
):
    """A task ignoring its soft limit is killed at the hard limit; the main process records and dead-letters it."""
    # When
    result = celery_app.send_task("probe.stubborn_hang", kwargs={"name": "stubborn"})
    letter = letter_for(services, result.id, timeout=20)
    # Then
    assert (letter.reason, letter.exc_type) == ("timeout", "TimeLimitExceeded")
    assert state(services).llen("probe:soft:stubborn") == 1, "it had its chance to clean up"
    [run] = runs(db, "probe.stubborn_hang")
    assert run["status"] == "timeout" and "hard time limit" in run["error"]
    assert celery_app.send_task("fleet.ping").get(timeout=10) == {"pong": True}
    assert state(services).llen("probe:started:stubborn") == 1, "a timeout is not redelivered"


def test_transient_errors_are_retried_with_backoff(worker, db, celery_app):
    """Two transient failures, then success: two retries recorded, no dead letter."""
    # When
    result = celery_app.send_task(
        "fleet.test_alert", kwargs={"mode": "flaky", "failures": 2, "nonce": "f1"}
    )
    # Then
    assert result.get(timeout=30) == {"mode": "flaky", "succeeded_after": 2}
    assert [r["status"] for r in runs(db, "fleet.test_alert")] == ["retry", "retry", "success"]


def test_retries_exhausted_are_dead_lettered(worker, services, celery_app):
    """A transient error outliving max_retries (5) is dead-lettered `retries_exhausted` after 6 attempts."""
    # When
    result = celery_app.send_task(
        "fleet.test_alert", kwargs={"mode": "flaky", "failures": 10, "nonce": "f2"}
    )
    letter = letter_for(services, result.id, timeout=60)
    # Then
    assert (letter.reason, letter.exc_type, letter.attempts) == (
        "retries_exhausted",
        "RetriesExhausted",
        6,
    )
    assert letter.first_failed_at < letter.last_failed_at
    assert len(dlq(services)) == 1
