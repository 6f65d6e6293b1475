"""Helpers shared by the reliability tests: polling, the registries, job_runs rows."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import psycopg
import redis
from sqlalchemy import text

from sheen.deadletters import DeadLetter, DeadLetterRegistry
from sheen.reliability.idempotency import IdempotencyRegistry

PROBES = "tests.probes.tasks"


def wait_until(predicate: Callable[[], Any], timeout: float = 30.0, what: str = "it") -> Any:
    """Poll `predicate` every 50 ms until it returns something truthy (and return that)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def dlq(services: Any) -> DeadLetterRegistry:
    return DeadLetterRegistry(redis.Redis.from_url(services.broker_url))


def idem(services: Any) -> IdempotencyRegistry:
    return IdempotencyRegistry(redis.Redis.from_url(services.redis_url))


def state(services: Any) -> redis.Redis:
    return redis.Redis.from_url(services.redis_url)


def letter_for(services: Any, task_id: str, timeout: float = 30.0) -> DeadLetter:
    registry = dlq(services)
    return wait_until(lambda: registry.get(task_id), timeout, f"dead letter {task_id}")


def runs(engine: Any, job: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT * FROM job_runs WHERE job = :j ORDER BY id"), {"j": job}
        ).mappings()
        return [dict(r) for r in rows]


def clear_broker(services: Any) -> None:
    """Empty the broker database: queues, unacked messages and dead letters of earlier tests."""
    redis.Redis.from_url(services.broker_url).flushdb()


def blocked_on_lock(services: Any) -> bool:
    """Whether some session of the test database is waiting on a lock (a probe mid-task)."""
    with psycopg.connect(services.database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND datname = current_database()"
        ).fetchone()
    return bool(row and row[0])
