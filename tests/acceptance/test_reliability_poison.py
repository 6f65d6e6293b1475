"""Messages a worker cannot run end in the dead-letter queue with a clear reason; it keeps serving."""

from __future__ import annotations

import uuid

import pytest
from kombu import Connection

from tests.reliability_support import PROBES, clear_broker, dlq, letter_for, state, wait_until


@pytest.fixture
def worker(db, services, start_worker, celery_app):
    clear_broker(services)
    return start_worker(concurrency=1, SHEEN_EXTRA_TASK_MODULES=PROBES)


def _ping_ok(celery_app) -> None:
    assert celery_app.send_task("fleet.ping").get(timeout=20) == {"pong": True}


def test_bad_arguments_are_dead_lettered_as_permanent(worker, services, celery_app):
    """Positional arguments and a bad keyword are payload errors: dead-lettered `permanent`, not retried."""
    # Given a worker
    # When a task gets positional args, and another an unknown keyword
    positional = celery_app.send_task("fleet.test_alert", args=[1, 2])
    bad_kwarg = celery_app.send_task("fleet.test_alert", kwargs={"mode": "explode"})
    # Then both are dead-lettered with reason permanent and the payload error
    for result in (positional, bad_kwarg):
        letter = letter_for(services, result.id)
        assert letter.reason == "permanent"
        assert letter.exc_type == "PayloadError"
        assert letter.attempts == 1
        assert letter.trace_id
    assert dlq(services).get(positional.id).args == [1, 2]
    assert dlq(services).get(bad_kwarg.id).kwargs == {"mode": "explode"}
    _ping_ok(celery_app)


def test_unknown_task_name_is_dead_lettered(worker, services, celery_app):
    """A task name no worker registers is dead-lettered `unknown_task` with its arguments."""
    # When
    result = celery_app.send_task("jobs.no_such_job", kwargs={"x": 1})
    # Then
    letter = letter_for(services, result.id)
    assert (letter.reason, letter.task, letter.kwargs) == (
        "unknown_task",
        "jobs.no_such_job",
        {"x": 1},
    )
    assert "jobs.no_such_job" in (letter.exc_message or "")
    _ping_ok(celery_app)


def test_non_json_body_is_dead_lettered_as_undecodable(worker, services, celery_app):
    """A raw message whose body is not JSON is dead-lettered `undecodable` with the body kept."""
    # Given a body that claims to be JSON and is not, published raw with kombu
    marker = uuid.uuid4().hex
    with Connection(services.broker_url) as conn:
        conn.default_channel.basic_publish(
            conn.default_channel.prepare_message(
                f"{{not json {marker}", content_type="application/json", content_encoding="utf-8"
            ),
            exchange="",
            routing_key="jobs",
        )
    # Then
    registry = dlq(services)
    letter = wait_until(
        lambda: next((x for x in registry.latest(10) if marker in (x.body or "")), None),
        20,
        "the undecodable letter",
    )
    assert letter.reason == "undecodable"
    assert letter.exc_type
    _ping_ok(celery_app)


def test_task_killing_its_worker_is_dead_lettered_after_max_deliveries(
    db, services, start_worker, celery_app
):
    """A task that SIGKILLs its process every time ends `worker_lost` after SHEEN_MAX_DELIVERIES."""
    # Given a worker allowing 3 deliveries
    clear_broker(services)
    start_worker(concurrency=1, SHEEN_EXTRA_TASK_MODULES=PROBES, SHEEN_MAX_DELIVERIES="3")
    # When a poison pill arrives
    result = celery_app.send_task("probe.kill_self", kwargs={"name": "pill"})
    # Then it killed its worker 3 times, and the 4th delivery dead-lettered it instead
    letter = letter_for(services, result.id, timeout=60)
    assert letter.reason == "worker_lost"
    assert letter.exc_type == "PoisonPill"
    assert state(services).llen("probe:started:pill") == 3
    _ping_ok(celery_app)
