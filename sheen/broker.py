"""Which broker a URL names, and the topology the fleet declares on RabbitMQ.

The fleet runs unchanged on Redis (kombu's Redis transport) or RabbitMQ (quorum
queues). Everything broker-specific asks `kind()` here, never parses a URL itself.
"""

from __future__ import annotations

from typing import Any, Literal

from kombu import Exchange, Queue

BrokerKind = Literal["redis", "rabbitmq"]
AMQP_SCHEMES = ("amqp://", "amqps://", "pyamqp://")
DEFAULT_QUEUE = "jobs"
DEAD_LETTER_QUEUE = "dead_letters"
DEAD_LETTER_EXCHANGE = "sheen.dead_letters"


def kind(url: str) -> BrokerKind:
    return "rabbitmq" if url.startswith(AMQP_SCHEMES) else "redis"


def region_queue(region: str) -> str:
    """The queue of one region's workers (`jobs.eu-west`); "local" has none of its own."""
    return f"{DEFAULT_QUEUE}.{region}"


def quorum_arguments(delivery_limit: int) -> dict[str, Any]:
    """A task queue: quorum, dead-lettered at least once to the dead-letter exchange.

    `x-delivery-limit` is RabbitMQ's own poison-pill bound (redeliveries after a lost
    consumer or a requeue); at-least-once dead-lettering needs `reject-publish` overflow.
    """
    return {
        "x-queue-type": "quorum",
        "x-delivery-limit": delivery_limit,
        "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
        "x-dead-letter-routing-key": DEAD_LETTER_QUEUE,
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }


def task_queue(name: str, broker_kind: BrokerKind, delivery_limit: int) -> Queue:
    """A task queue on either broker. On RabbitMQ its exchange is a topic exchange, which
    Celery's native delayed delivery (countdowns and ETAs on quorum queues) requires."""
    if broker_kind == "redis":
        return Queue(name, Exchange(name, type="direct"), routing_key=name)
    return Queue(
        name,
        Exchange(name, type="topic", durable=True),
        routing_key=name,
        durable=True,
        queue_arguments=quorum_arguments(delivery_limit),
    )


def dead_letter_queue(broker_kind: BrokerKind) -> Queue:
    """The dead-letter queue (a quorum queue on RabbitMQ, without a delivery limit)."""
    exchange = Exchange(DEAD_LETTER_EXCHANGE, type="direct", durable=True)
    arguments = {"x-queue-type": "quorum"} if broker_kind == "rabbitmq" else None
    return Queue(
        DEAD_LETTER_QUEUE,
        exchange,
        routing_key=DEAD_LETTER_QUEUE,
        durable=True,
        queue_arguments=arguments,
    )
