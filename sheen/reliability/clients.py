"""Redis clients, one per URL and process (redis-py pools reconnect after a fork)."""

from __future__ import annotations

import redis

from sheen.deploy.tls import redis_tls_kwargs
from sheen.settings import Settings

_clients: dict[str, redis.Redis] = {}


def redis_for(url: str) -> redis.Redis:
    client = _clients.get(url)
    if client is None:
        client = redis.Redis.from_url(
            url, socket_timeout=10, socket_connect_timeout=5, **redis_tls_kwargs(url)
        )
        _clients[url] = client
    return client


def state_redis(settings: Settings) -> redis.Redis:
    """The Redis that holds fleet state (idempotency keys, digest markers)."""
    return redis_for(settings.redis_url)


def broker_redis(settings: Settings) -> redis.Redis:
    """The broker's Redis: task queues and the dead-letter queue live here."""
    return redis_for(settings.broker_url)
