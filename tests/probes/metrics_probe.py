"""Probe for the multiprocess scrape: a barrier task and an unlabelled counter made at import.

`HITS` has no labels, so prometheus-client creates its value when the module is
imported (in the worker's main process, before the fork). It reaches the scrape only
if the multiprocess folder was set before task modules were imported. The barrier
holds each task until `parties` of them run at once, so they run in different pool
children.
"""

from __future__ import annotations

import os
import time
from typing import Any

from prometheus_client import Counter
from pydantic import BaseModel, ConfigDict

from sheen.reliability.clients import state_redis
from workers.app import app
from workers.base import FleetTask
from workers.context import RunContext

HITS = Counter("sheen_probe_hits", "Barrier probe executions (no labels).", registry=None)


class BarrierPayload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    n: int
    parties: int = 2


class BarrierTask(FleetTask):
    payload_schema = BarrierPayload
    expected_runtime_seconds = 30


@app.task(base=BarrierTask, name="probe.barrier", bind=False)
def barrier(ctx: RunContext) -> dict[str, Any]:
    """Count one hit, then wait until `parties` barrier tasks have started; return the pid."""
    payload = ctx.payload_as(BarrierPayload)
    HITS.inc()
    r = state_redis(ctx.settings)
    r.incr(f"probe:barrier:{payload.name}")
    deadline = time.monotonic() + 30
    while int(r.get(f"probe:barrier:{payload.name}") or 0) < payload.parties:
        if time.monotonic() > deadline:
            raise RuntimeError("barrier partner never started")
        time.sleep(0.05)
    return {"pid": os.getpid()}
