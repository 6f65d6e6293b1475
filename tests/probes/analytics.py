"""A migration-step no-op task: the analytics emission benchmark's subject.

Every delivery runs (`idempotent = False`, so copies of one message are not skipped)
and is recorded in job_runs like any migration step; with emission on it writes
`started` and `completed`.
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict

from workers.app import app
from workers.base import FleetTask
from workers.context import RunContext


class NoopStepPayload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    migration_id: uuid.UUID
    user_id: uuid.UUID


class NoopStep(FleetTask):
    payload_schema = NoopStepPayload
    migration_step = True
    idempotent = False
    expected_runtime_seconds = 1
    soft_time_limit = 30
    time_limit = 40


@app.task(base=NoopStep, name="probe.migration_noop_step", bind=False)
def migration_noop_step(ctx: RunContext) -> dict[str, Any]:
    return {"ok": True}
