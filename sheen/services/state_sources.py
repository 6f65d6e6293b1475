"""Where sampled fleet state comes from: broker queue depth and the dead-letter registry.

Shared by the worker's scrape endpoint, the sidecar's `/metrics`, the overview and
server health, so every view reads the same numbers the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis

from sheen import broker
from sheen.deploy.tls import redis_tls_kwargs
from sheen.services.queues import AmqpDepths, queue_depths
from sheen.settings import Settings

REDIS_TIMEOUT_SECONDS = 2.0


def redis_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(
        url,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        **redis_tls_kwargs(url),
    )


def queue_depth_sampler(settings: Settings) -> Callable[[], dict[str, int]]:
    """A callable returning the depth of each monitored queue, on Redis or RabbitMQ."""
    if broker.kind(settings.broker_url) == "rabbitmq":
        return AmqpDepths(settings.broker_url, settings.queue_names, REDIS_TIMEOUT_SECONDS)
    client = redis_client(settings.broker_url)
    return lambda: queue_depths(client, settings.queue_names)


def dead_letter_registry(settings: Settings) -> Any | None:
    """The dead-letter store on the broker (Redis or RabbitMQ, chosen from the URL)."""
    from sheen.deadletters.store import open_store

    return open_store(
        settings.broker_url,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        delivery_limit=settings.broker_delivery_limit,
    )


def dead_letter_counts(settings: Settings) -> dict[str, int]:
    registry = dead_letter_registry(settings)
    if registry is None:
        return {}
    return {str(job): int(n) for job, n in registry.count_by_job().items()}
