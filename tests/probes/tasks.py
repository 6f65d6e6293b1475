"""Probe tasks for acceptance tests: an observable effect, a lock to stop mid-task, self-harm.

Each records what happened in the state Redis (`probe:*` keys) so the test can
assert on deliveries and effects without racing sleeps.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import psycopg
from celery.exceptions import SoftTimeLimitExceeded
from pydantic import BaseModel, ConfigDict
from sqlalchemy import text

from sheen.reliability.clients import state_redis
from workers.app import app
from workers.base import FleetTask
from workers.context import RunContext


class EffectPayload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    lock: int | None = None  # a PostgreSQL advisory lock to wait for before the effect
    idempotency_key: str | None = None


class ProbeTask(FleetTask):
    payload_schema = EffectPayload
    expected_runtime_seconds = 300
    max_retries = 2


@app.task(base=ProbeTask, name="probe.effect", bind=False)
def effect(ctx: RunContext) -> dict[str, Any]:
    """Fail while `probe:broken:{name}` exists; wait for the advisory lock (if any); count one effect."""
    payload = ctx.payload_as(EffectPayload)
    r = state_redis(ctx.settings)
    r.rpush(f"probe:started:{payload.name}", ctx.task_id)
    if r.exists(f"probe:broken:{payload.name}"):
        raise RuntimeError(f"probe {payload.name} is broken")
    if payload.lock is not None:
        with psycopg.connect(ctx.settings.libpq_url, autocommit=True) as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (payload.lock,))
            conn.execute("SELECT pg_advisory_unlock(%s)", (payload.lock,))
    return {"effects": int(r.incr(f"probe:effect:{payload.name}"))}


class NamePayload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str


class HarmTask(FleetTask):
    payload_schema = NamePayload
    expected_runtime_seconds = 10


@app.task(base=HarmTask, name="probe.kill_self", bind=False)
def kill_self(ctx: RunContext) -> None:
    """A poison pill: SIGKILLs its own pool process on every delivery."""
    name = ctx.payload_as(NamePayload).name
    state_redis(ctx.settings).rpush(f"probe:started:{name}", ctx.task_id)
    os.kill(os.getpid(), signal.SIGKILL)


@app.task(base=HarmTask, name="probe.stubborn_hang", bind=False)
def stubborn_hang(ctx: RunContext) -> None:
    """Ignores its soft time limit, so only the hard limit (killing the process) stops it."""
    name = ctx.payload_as(NamePayload).name
    state_redis(ctx.settings).rpush(f"probe:started:{name}", ctx.task_id)
    while True:
        try:
            time.sleep(0.1)
        except SoftTimeLimitExceeded:
            state_redis(ctx.settings).rpush(f"probe:soft:{ctx.payload.name}", ctx.task_id)


class InsertPayload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    idempotency_key: str
    sleep_ms: int = 0  # inside the transaction: widens the window a fault can hit


class InsertTask(FleetTask):
    payload_schema = InsertPayload
    # Scaled by the fault tests (0.005): an 18 s soft limit, well above the stalls a service
    # restart causes (a 5 s connect timeout; a Redis client reconnecting after a SIGKILL).
    expected_runtime_seconds = 1200
    max_retries = 100  # outlives a 90 s database outage at the tests' scaled backoff


@app.task(base=InsertTask, name="probe.insert", bind=False)
def insert(ctx: RunContext) -> dict[str, Any]:
    """A non-idempotent effect: one INSERT into a table without a unique constraint."""
    payload = ctx.payload_as(InsertPayload)
    with ctx.transaction() as conn:
        conn.execute(
            text("INSERT INTO probe_effects (key, task_id) VALUES (:key, :task_id)"),
            {"key": payload.idempotency_key, "task_id": ctx.task_id},
        )
        if payload.sleep_ms:
            time.sleep(payload.sleep_ms / 1000)
    return {"inserted": payload.idempotency_key}
