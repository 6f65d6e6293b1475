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
