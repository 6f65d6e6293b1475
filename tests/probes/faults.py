"""The fault tests' probe: a non-idempotent effect committed with its done-mark.

Its own module, so its long (scaled) limits only apply to the workers of those tests.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import text

from workers.app import app
from workers.base import FleetTask
from workers.context import RunContext


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
