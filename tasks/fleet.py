"""Diagnostics: `fleet.ping` (readiness and benchmarks) and `fleet.test_alert` (prove the alert path).

Both run through every middleware like any job. Ping is the cheapest honest
probe: it does not record a job_runs row (one database round trip per probe
would measure PostgreSQL, not the fleet) and is not deduplicated (every ping
must run), but its delivery is still counted in Redis like any task's.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sheen.errors import TransientError
from workers.app import app
from workers.base import FleetTask
from workers.context import RunContext


class PingTask(FleetTask):
    expected_runtime_seconds = 5
    soft_time_limit = 15
    time_limit = 45
    idempotent = False
    record_runs = False
    max_retries = 0

    def idempotency_key(self, ctx: RunContext) -> str:
        return ctx.task_id  # every ping is its own execution; no hashing on the hot path


@app.task(base=PingTask, name="fleet.ping", bind=False)
def ping(ctx: RunContext) -> dict[str, Any]:
    return {"pong": True}


class TestAlertPayload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["fail", "hang", "flaky"] = "fail"
    failures: int = Field(default=2, ge=1, le=10)  # flaky: transient failures before success
    nonce: str | None = Field(default=None, max_length=64)  # makes each alert its own key


class TestAlertTask(FleetTask):
    payload_schema = TestAlertPayload
    expected_runtime_seconds = 10
    soft_time_limit = 30
    time_limit = 60
    max_retries = 5


@app.task(base=TestAlertTask, name="fleet.test_alert", bind=False)
def test_alert(ctx: RunContext) -> dict[str, Any]:
    """fail: a permanent error; hang: never returns (the watchdog stops it); flaky: transient."""
    payload = ctx.payload_as(TestAlertPayload)
    if payload.mode == "fail":
        raise RuntimeError("synthetic failure from fleet.test_alert (mode=fail)")
    if payload.mode == "hang":
        while True:
            time.sleep(0.2)
    retries = int(ctx.task.request.retries or 0)
    if retries < payload.failures:
        raise TransientError(f"synthetic transient failure {retries + 1} of {payload.failures}")
    return {"mode": "flaky", "succeeded_after": retries}
