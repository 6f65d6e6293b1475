"""Readiness: a real round trip to the broker, the state Redis and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable

from pydantic import BaseModel
from sqlalchemy import Engine, text

from sheen.services.state_sources import redis_client
from sheen.settings import Settings


class Check(BaseModel):
    name: str
    ok: bool
    latency_ms: float | None = None
    error: str | None = None


class Readiness(BaseModel):
    ready: bool
    checks: list[Check]
    failed: list[str]
    detail: str | None = None


def _timed(name: str, probe: Callable[[], object]) -> Check:
    began = time.perf_counter()
    try:
        probe()
    except Exception as exc:  # any failure means not ready; say which kind, not the URL
        return Check(name=name, ok=False, error=type(exc).__name__)
    return Check(name=name, ok=True, latency_ms=round((time.perf_counter() - began) * 1000, 3))


def _broker_probe(settings: Settings) -> Callable[[], object]:
    if settings.broker_url.startswith(("redis://", "rediss://", "unix://")):
        return redis_client(settings.broker_url).ping

    def amqp() -> object:
        from kombu import Connection

        with Connection(settings.broker_url, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1)
        return True

    return amqp


def _database_probe(engine: Engine) -> Callable[[], object]:
    def probe() -> object:
        with engine.connect() as conn:
            return conn.execute(text("SELECT 1")).scalar_one()

    return probe


def check_readiness(settings: Settings, engine: Engine) -> Readiness:
    checks = [
        _timed("broker", _broker_probe(settings)),
        _timed("redis", redis_client(settings.redis_url).ping),
        _timed("postgresql", _database_probe(engine)),
    ]
    failed = [c.name for c in checks if not c.ok]
    detail = f"not ready: {', '.join(failed)} unreachable" if failed else None
    return Readiness(ready=not failed, checks=checks, failed=failed, detail=detail)
