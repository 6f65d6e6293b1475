"""migration.run: a site migration in steps, with its analytics events.

`migration_step = True`: the pipeline (workers/middleware/analytics.py) writes
`started`, `retry`, `completed` and `failed`; each step writes `step_completed`
(sheen.analytics.migration_run holds the steps).
"""

from __future__ import annotations

from typing import Any

from schemas.analytics import MigrationRunPayload
from sheen.analytics.migration_run import run_migration
from workers.app import app
from workers.base import FleetTask
from workers.context import RunContext


class MigrationTask(FleetTask):
    payload_schema = MigrationRunPayload
    migration_step = True  # the analytics middleware emits this task's events
    expected_runtime_seconds = 600
    soft_time_limit = 1800
    time_limit = 1830
    max_retries = 5


@app.task(base=MigrationTask, name="migration.run", bind=False)
def migration_run(ctx: RunContext) -> dict[str, Any]:
    return run_migration(ctx, app.send_task)
