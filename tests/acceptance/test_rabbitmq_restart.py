"""A RabbitMQ restart in the middle of a run: nothing lost, every effect once, nothing missing."""

from __future__ import annotations

from celery import Celery

import celeryconfig
from sheen.ledger.ledger import OPEN
from sheen.settings import parse_settings
from tests.rabbitmq_support import own_rabbitmq  # noqa: F401  (fixture)
from tests.reliability_support import state, wait_until

TASKS = 20


def test_broker_restart_mid_run_loses_nothing_and_applies_once(
    db,
    services,
    start_worker,
    own_rabbitmq,  # noqa: F811
):
    """20 slow tasks queued, the broker restarted after a few: all 20 run, each effect once."""
    # Given a worker on a RabbitMQ node of the test's own, and 20 tasks of 0.3 s queued
    env = {"SHEEN_BROKER_URL": own_rabbitmq.url, "SHEEN_EXTRA_TASK_MODULES": "tests.probes.slow"}
    app = Celery("restart", set_as_current=False)
    app.conf.update(celeryconfig.build(parse_settings(services.env(**env))))
    worker = start_worker(concurrency=1, **env)
    results = [app.send_task("probe.slow_effect", kwargs={"name": f"r{n}"}) for n in range(TASKS)]
    wait_until(lambda: state(services).get("probe:effect:r2"), 30, "a few tasks to finish")
    # When the broker stops and starts again mid-run (quorum queues on disk)
    own_rabbitmq.restart()
    done_before = sum(bool(state(services).get(f"probe:effect:r{n}")) for n in range(TASKS))
    assert done_before < TASKS  # the restart came with tasks still queued
    # Then the worker reconnects; every task finishes (or, redelivered after it finished
    # while the broker was away, is skipped) and every effect happened once
    for result in results:
        value = result.get(timeout=90)
        assert value.get("effects") == 1 or value.get("skipped") is True, value
    effects = [int(state(services).get(f"probe:effect:r{n}") or 0) for n in range(TASKS)]
    assert effects == [1] * TASKS
    assert "Connection to broker lost" in worker.log() or "consumer: Cannot connect" in worker.log()
    # And the ledger closed every task: nothing is missing
    wait_until(lambda: state(services).zcard(OPEN) == 0, 30, "the ledger to close every task")
    app.close()
