"""A slow probe with an idempotent effect, for broker restarts in the middle of a run."""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, ConfigDict

from sheen.reliability.clients import state_redis
from workers.app import app
from workers.base import FleetTask
from workers.context import RunContext


class SlowPayload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    seconds: float = 0.3


class SlowTask(FleetTask):
    payload_schema = SlowPayload
    expected_runtime_seconds = 5


@app.task(base=SlowTask, name="probe.slow_effect", bind=False)
def slow_effect(ctx: RunContext) -> dict[str, Any]:
    """Sleep a little, then count one effect for `name` (the key is derived from the name)."""
    payload = ctx.payload_as(SlowPayload)
    r = state_redis(ctx.settings)
    r.rpush(f"probe:started:{payload.name}", ctx.task_id)
    time.sleep(payload.seconds)
    return {"effects": int(r.incr(f"probe:effect:{payload.name}"))}
