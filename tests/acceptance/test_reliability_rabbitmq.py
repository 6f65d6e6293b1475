# ruff: noqa: F811  (the RabbitMQ fixtures are imported from tests.rabbitmq_support)
"""The reliability acceptance scenarios again, on RabbitMQ quorum queues (the second broker).

Same promises as on Redis (test_reliability_delivery/poison/dlq_cli/config): a killed
child or main process loses nothing and applies once, poison pills end dead-lettered,
a requeue round trip runs once, unsafe configurations are refused. Plus what only
RabbitMQ has: its own delivery limit dead-letters natively when the fleet's counter
is set higher.
"""

from __future__ import annotations

import json

import psycopg
import pytest
from click.testing import CliRunner
from sqlalchemy import text

from sheen.cli.main import _register, cli
from sheen.deadletters import DeadLetter
from sheen.ledger.ledger import OPEN
from sheen.settings import load_settings
from tests.rabbitmq_support import rabbit_app, rabbit_env, rabbitmq  # noqa: F401  (fixtures)
from tests.reliability_support import PROBES, blocked_on_lock, runs, state, wait_until

pytestmark = pytest.mark.usefixtures("rabbitmq")


@pytest.fixture
def lock(services):
    """An advisory lock held by the test: a probe task waits on it, mid-task, until released."""
    conn = psycopg.connect(services.database_url, autocommit=True)
    conn.execute("SELECT pg_advisory_lock(7002)")
    yield conn
    conn.close()


@pytest.fixture
def on_rabbit(db, rabbitmq, start_worker):
    """Start workers on this run's vhost (queues emptied first)."""
    rabbitmq.clear()
    return lambda concurrency=1, **env: start_worker(
        concurrency=concurrency, **rabbit_env(rabbitmq, SHEEN_EXTRA_TASK_MODULES=PROBES, **env)
    )


def letter_for(rabbitmq, task_id: str, timeout: float = 30.0) -> DeadLetter:
    store = rabbitmq.store()
    return wait_until(lambda: store.get(task_id), timeout, f"dead letter {task_id}")


def test_rabbitmq_sigkill_of_a_pool_child_redelivers_and_applies_once(
    on_rabbit, services, rabbit_app, lock, db
):
    """RabbitMQ: a child SIGKILLed mid-task is redelivered by the quorum queue and applies once."""
    # Given a worker whose task is blocked mid-run on the test's lock
    worker = on_rabbit()
    result = rabbit_app.send_task("probe.effect", kwargs={"name": "rchild", "lock": 7002})
    wait_until(lambda: blocked_on_lock(services), 30, "the task to block on the lock")
    # When its pool child is SIGKILLed
    [child] = worker.children()
    child.kill()
    # Then the message is delivered again; released, it completes once
    wait_until(lambda: state(services).llen("probe:started:rchild") == 2, 30, "the redelivery")
    wait_until(lambda: blocked_on_lock(services), 30, "the redelivered task to block")
    lock.close()
    assert result.get(timeout=30) == {"effects": 1}
    assert int(state(services).get("probe:effect:rchild")) == 1
    assert [r["status"] for r in runs(db, "probe.effect")] == ["failure", "success"]


def test_rabbitmq_sigkill_of_the_main_process_redelivers_at_once(
    on_rabbit, services, rabbit_app, lock
):
    """RabbitMQ: the whole worker SIGKILLed, its unacked task returns when the connection drops."""
    # Given a worker blocked mid-task; short time limits (scale 0.01: leases of ~9 s), and no
    # visibility timeout on RabbitMQ (the 1 h default stays)
    env = {"SHEEN_TIME_LIMIT_SCALE": "0.01"}
    first = on_rabbit(**env)
    result = rabbit_app.send_task("probe.effect", kwargs={"name": "rmain", "lock": 7002})
    wait_until(lambda: blocked_on_lock(services), 30, "the task to block on the lock")
    # When the main process and its child are SIGKILLed, and a new worker starts
    first.kill()
    on_rabbit(**env)
    # Then the message returns as the connection drops; the new worker defers it (native
    # delayed delivery) until the dead holder's lease expires, then completes it once
    wait_until(lambda: state(services).llen("probe:started:rmain") == 2, 60, "the redelivery")
    lock.close()
    assert result.get(timeout=30) == {"effects": 1}
    assert int(state(services).get("probe:effect:rmain")) == 1
    # And the lost-task ledger closed it: nothing open, nothing missing
    wait_until(lambda: state(services).zcard(OPEN) == 0, 10, "the ledger to close the task")


def test_rabbitmq_bad_payload_and_unknown_task_are_dead_lettered(on_rabbit, rabbitmq, rabbit_app):
    """RabbitMQ: a payload error is dead-lettered `permanent`, an unknown name `unknown_task`."""
    # Given
    on_rabbit()
    # When
    bad = rabbit_app.send_task("fleet.test_alert", kwargs={"mode": "explode"})
    unknown = rabbit_app.send_task("jobs.no_such_job", kwargs={"x": 1})
    # Then
    letter = letter_for(rabbitmq, bad.id)
    assert (letter.reason, letter.exc_type, letter.kwargs) == (
        "permanent",
        "PayloadError",
        {"mode": "explode"},
    )
    assert letter_for(rabbitmq, unknown.id).reason == "unknown_task"
    assert rabbit_app.send_task("fleet.ping").get(timeout=20) == {"pong": True}


def test_rabbitmq_poison_pill_is_dead_lettered_after_max_deliveries(
    on_rabbit, services, rabbitmq, rabbit_app
):
    """RabbitMQ: a task SIGKILLing its process ends `worker_lost` after SHEEN_MAX_DELIVERIES."""
    # Given the fleet's bound (3) below the quorum queue's delivery limit (5)
    on_rabbit(SHEEN_MAX_DELIVERIES="3")
    # When a poison pill arrives
    result = rabbit_app.send_task("probe.kill_self", kwargs={"name": "rpill"})
    # Then the fleet's counter refused the 4th delivery with a full letter
    letter = letter_for(rabbitmq, result.id, timeout=60)
    assert (letter.reason, letter.exc_type) == ("worker_lost", "PoisonPill")
    assert state(services).llen("probe:started:rpill") == 3
    assert rabbit_app.send_task("fleet.ping").get(timeout=20) == {"pong": True}


def test_rabbitmq_delivery_limit_dead_letters_natively(
    services, rabbitmq, start_worker, db, tmp_path
):
    """RabbitMQ's own x-delivery-limit dead-letters a poison pill when the fleet's bound is higher."""
    # Given a vhost of its own (the queue arguments differ) with delivery limit 2, fleet bound 10
    from celery import Celery

    import celeryconfig
    from sheen.settings import parse_settings

    rabbitmq.clear()
    env = rabbit_env(
        rabbitmq,
        SHEEN_EXTRA_TASK_MODULES=PROBES,
        SHEEN_MAX_DELIVERIES="10",
        SHEEN_BROKER_DELIVERY_LIMIT="2",
        SHEEN_REGION="limit2",
    )
    app = Celery("limit2", set_as_current=False)
    app.conf.update(celeryconfig.build(parse_settings(services.env(**env))))
    start_worker(concurrency=1, extra_args=("-Q", "jobs.limit2"), **env)
    # When a poison pill arrives on the region queue
    result = app.send_task("probe.kill_self", kwargs={"name": "native"}, queue="jobs.limit2")
    # Then RabbitMQ dead-lettered it after 3 deliveries (limit 2 redeliveries), as worker_lost
    letter = letter_for(rabbitmq, result.id, timeout=60)
    assert (letter.reason, letter.exc_type, letter.queue) == (
        "worker_lost",
        "DeliveryLimitExceeded",
        "jobs.limit2",
    )
    assert letter.kwargs == {"name": "native"}
    assert state(services).llen("probe:started:native") == 3
    app.close()


@pytest.fixture
def ops(monkeypatch, rabbitmq):
    """`sheen-ops` in process, on the RabbitMQ vhost."""
    monkeypatch.setenv("SHEEN_BROKER_URL", rabbitmq.url)
    load_settings.cache_clear()
    _register()
    runner = CliRunner()
    yield lambda *args: runner.invoke(cli, list(args), catch_exceptions=False)
    monkeypatch.undo()
    load_settings.cache_clear()


def test_rabbitmq_requeue_round_trip_runs_once_even_when_requeued_twice(
    on_rabbit, services, rabbitmq, rabbit_app, ops, db
):
    """RabbitMQ: dead-lettered, listed, shown, requeued twice: runs once, both audited."""
    # Given a broken probe whose task is dead-lettered
    on_rabbit()
    state(services).set("probe:broken:rrt", 1)
    failed = rabbit_app.send_task("probe.effect", kwargs={"name": "rrt"})
    letter = letter_for(rabbitmq, failed.id)
    # When the operator lists and shows it
    data = json.loads(ops("dlq", "list", "--json", "--since", "1h").output)
    shown = ops("dlq", "show", failed.id)
    # Then
    assert [x["id"] for x in data["letters"]] == [failed.id]
    assert data["count_by_job"] == {"probe.effect": 1}
    assert "probe rrt is broken" in shown.output and "Traceback" in shown.output
    # When the probe is fixed and the letter requeued, then a second copy requeued again
    state(services).delete("probe:broken:rrt")
    requeued = ops("dlq", "requeue", failed.id)
    assert requeued.exit_code == 0 and "requeued 1, failed 0" in requeued.output
    wait_until(lambda: state(services).get("probe:effect:rrt"), 30, "the requeued run")
    rabbitmq.store().add(letter)
    assert ops("dlq", "requeue", "--all").exit_code == 0
    wait_until(lambda: len(runs(db, "probe.effect")) == 3, 30, "the second requeued delivery")
    # Then the effect happened once; the second delivery was a recorded skip
    assert int(state(services).get("probe:effect:rrt")) == 1
    assert [r["status"] for r in runs(db, "probe.effect")] == ["failure", "success", "skipped"]
    assert len(rabbitmq.store()) == 0
    with db.connect() as conn:
        audit = conn.execute(text("SELECT action, letter_id FROM dead_letter_audit")).all()
    assert audit == [("requeue", failed.id), ("requeue", failed.id)]
    purged = ops("dlq", "purge", "--all", "--yes")
    assert purged.exit_code == 0 and "purged 0, failed 0" in purged.output


@pytest.mark.parametrize(
    ("pool", "env", "refused"),
    [
        ("solo", {}, "pool 'solo' cannot enforce time limits"),
        ("prefork", {"SHEEN_VISIBILITY_TIMEOUT_SECONDS": "930"}, None),
    ],
    ids=["solo-refused", "visibility-timeout-is-redis-only"],
)
def test_rabbitmq_unsafe_configuration(services, rabbitmq, start_worker, pool, env, refused):
    """RabbitMQ: the pool check applies (exit 2); the Redis visibility-timeout check does not."""
    # When
    worker = start_worker(concurrency=1, pool=pool, wait=False, **rabbit_env(rabbitmq, **env))
    # Then
    if refused:
        assert worker.proc.wait(60) == 2, worker.log()[-2000:]
        lines = [x for x in worker.log().splitlines() if "unsafe worker configuration" in x]
        assert len(lines) == 1 and refused in lines[0]
    else:
        worker.wait_for_log(" ready.", 60)
        assert "unsafe worker configuration" not in worker.log()
