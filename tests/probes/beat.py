"""Probe task for the beat failover test: records each tick's publish time in the state Redis."""

from __future__ import annotations

from typing import Any

from sheen.reliability.clients import state_redis
from workers.app import app
from workers.base import FleetTask
from workers.context import RunContext

TICKS = "probe:beat:ticks"


class TickTask(FleetTask):
    expected_runtime_seconds = 5
    idempotent = False  # every tick is its own delivery; the test counts them
    record_runs = False


@app.task(base=TickTask, name="probe.beat_tick", bind=False)
def beat_tick(ctx: RunContext) -> dict[str, Any]:
    """Append this delivery's publish time (the tick it belongs to) to `probe:beat:ticks`."""
    state_redis(ctx.settings).rpush(TICKS, f"{ctx.sent_at.timestamp():.3f} {ctx.task_id}")
    return {"tick": ctx.sent_at.timestamp()}
