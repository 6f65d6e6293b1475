# ruff: noqa: F811  (the RabbitMQ fixture is imported from tests.rabbitmq_support)
"""The RabbitMQ dead-letter store and sampled state on a real vhost: same answers as on Redis."""

from __future__ import annotations

import json

from kombu import Connection, Producer

import celeryconfig
from sheen.broker import DEAD_LETTER_EXCHANGE, DEAD_LETTER_QUEUE, task_queue
from sheen.deadletters import DeadLetter, open_store
from sheen.deadletters.rabbitmq import RabbitDeadLetters
from sheen.services.state_sources import dead_letter_counts, queue_depth_sampler
from sheen.settings import parse_settings
from tests.rabbitmq_support import rabbitmq  # noqa: F401  (fixture)
from tests.reliability_support import wait_until


def test_store_reads_without_consuming_and_requeues_or_purges_by_id(rabbitmq):
    """List, show, ids by job and time, between, oldest: nothing consumed; requeue and purge by id."""
    # Given three letters of two jobs, one id added twice
    rabbitmq.clear()
    store = open_store(rabbitmq.url)
    assert isinstance(store, RabbitDeadLetters)
    store.declare(rabbitmq.url)
    for n, (job, at) in enumerate([("jobs.a", 100.0), ("jobs.b", 200.0), ("jobs.a", 300.0)]):
        store.add(DeadLetter(id=f"l{n}", task=job, reason="permanent", kwargs={"n": n},
                             dead_lettered_at=at))  # fmt: skip
    store.add(DeadLetter(id="l0", task="jobs.a", reason="permanent", dead_lettered_at=100.0))
    # Then reads agree with each other and leave every message in place
    assert len(store) == 3 and store.queue_length() == 4
    assert store.count_by_job() == {"jobs.a": 2, "jobs.b": 1}
    assert store.ids() == ["l2", "l1", "l0"]
    assert store.ids(job="jobs.a", since=150) == ["l2"]
    assert [x.id for x in store.list(limit=2)] == ["l2", "l1"]
    assert [x.id for x in store.between(100, 300)] == ["l0", "l1"]
    assert store.oldest().id == "l0" and store.get("l1").kwargs == {"n": 1}
    assert "l1" in store and "nope" not in store and store.queue_length() == 4
    # When l0 (both copies) is requeued and l1 purged
    result = store.requeue(["l0", "nope"])
    purged = store.purge(["l1"])
    # Then l0's task is on its queue once, with its new id linking back; only l2 is left
    assert (result.requeued, result.missing, purged) == (["l0"], ["nope"], 1)
    assert store.ids() == ["l2"] and store.queue_length() == 1
    with Connection(rabbitmq.url) as conn:
        message = conn.default_channel.basic_get("jobs", no_ack=True)
        assert message.headers["dead_letter_id"] == "l0" and message.headers["task"] == "jobs.a"
        assert json.loads(message.body)[1] == {"n": 0}
        assert conn.default_channel.basic_get("jobs", no_ack=True) is None


def test_a_task_message_dead_lettered_by_rabbitmq_reads_as_a_letter(rabbitmq):
    """A task message RabbitMQ dead-lettered itself (x-death) is listed and requeueable like any letter."""
    # Given a task message rejected without requeue on a fleet queue (native dead-lettering)
    rabbitmq.clear()
    store = open_store(rabbitmq.url)
    store.declare(rabbitmq.url)
    with Connection(rabbitmq.url) as conn:
        channel = conn.channel()
        task_queue("jobs", "rabbitmq", 5)(channel).declare()
        Producer(channel).publish(
            json.dumps([[], {"x": 1}, {}]), routing_key="jobs", exchange="",
            headers={"id": "t-native", "task": "jobs.native"},
            content_type="application/json", content_encoding="utf-8",
        )  # fmt: skip
        message = wait_until(lambda: channel.basic_get("jobs", no_ack=False), 10, "the task")
        channel.basic_reject(message.delivery_tag, requeue=False)
    # Then it is in the dead-letter queue, read as a `permanent` letter with its arguments
    letter = wait_until(lambda: store.get("t-native"), 10, "the native letter")
    assert (letter.task, letter.reason, letter.kwargs, letter.queue) == (
        "jobs.native", "permanent", {"x": 1}, "jobs",
    )  # fmt: skip
    assert store.count_by_job() == {"jobs.native": 1}
    assert store.requeue(["t-native"]).requeued == ["t-native"] and len(store) == 0
    assert (DEAD_LETTER_EXCHANGE, DEAD_LETTER_QUEUE) == ("sheen.dead_letters", "dead_letters")


def test_state_sources_read_queue_depth_and_dead_letters_on_rabbitmq(services, rabbitmq):
    """Queue depth (passive declare) and dead letters per job come from RabbitMQ for the metrics."""
    # Given two waiting tasks and one letter
    rabbitmq.clear()
    settings = parse_settings(services.env(SHEEN_BROKER_URL=rabbitmq.url))
    open_store(rabbitmq.url).add(DeadLetter(id="d1", task="jobs.z", reason="timeout"))
    with Connection(rabbitmq.url) as conn:
        task_queue("jobs", "rabbitmq", 5)(conn.default_channel).declare()
        for _ in range(2):
            Producer(conn.default_channel).publish("{}", routing_key="jobs", exchange="")
    # Then
    sample = queue_depth_sampler(settings)
    assert wait_until(lambda: sample() == {"jobs": 2}, 10, "two waiting tasks")
    assert dead_letter_counts(settings) == {"jobs.z": 1}


def test_celery_configuration_per_broker(services):
    """RabbitMQ: quorum queues with delivery limit and at-least-once DLX; a region adds its queue."""
    # Given
    amqp = parse_settings(
        services.env(SHEEN_BROKER_URL="amqp://guest:guest@127.0.0.1:5672/x", SHEEN_REGION="eu-west")
    )
    redis_conf = celeryconfig.build(parse_settings(services.env()))
    # When
    conf = celeryconfig.build(amqp)
    # Then
    jobs, region = conf["task_queues"]
    assert (jobs.name, region.name, jobs.exchange.type) == ("jobs", "jobs.eu-west", "topic")
    assert jobs.queue_arguments == {
        "x-queue-type": "quorum",
        "x-delivery-limit": 5,
        "x-dead-letter-exchange": "sheen.dead_letters",
        "x-dead-letter-routing-key": "dead_letters",
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }
    assert conf["worker_detect_quorum_queues"] is True
    assert "visibility_timeout" not in conf["broker_transport_options"]
    assert redis_conf["broker_transport_options"]["visibility_timeout"] == 3600
    assert [q.name for q in redis_conf["task_queues"]] == ["jobs"]
    assert conf["beat_scheduler"] == "redbeat.RedBeatScheduler"
