"""migration.verify: a signed manifest checked against what the migrated site serves.

Enqueued by the main application after a migration or deploy. The work lives in
sheen.verification.service; the run's final rows (run, schema, verified release)
commit with the task's done-mark through ctx.transaction().
"""

from __future__ import annotations

from typing import Any

from schemas.verification import VerifyPayload
from sheen.db.engine import get_engine
from sheen.verification import VerificationRequest, run_id_for, verify
from workers.app import app
from workers.base import FleetTask
from workers.context import RunContext


class VerifyTask(FleetTask):
    payload_schema = VerifyPayload
    # 10,000 files take about 20 s (docs/benchmarks.md); 300 s keeps the fleet's longest hard
    # limit (930 s, the scheduled jobs') unchanged, so the visibility timeout needs no change.
    expected_runtime_seconds = 300
    soft_time_limit = 900
    time_limit = 930
    max_retries = 3


@app.task(base=VerifyTask, name="migration.verify", bind=False)
def migration_verify(ctx: RunContext) -> dict[str, Any]:
    payload = ctx.payload_as(VerifyPayload)
    request = VerificationRequest(
        manifest=payload.manifest.encode("utf-8"),
        signature=payload.signature.encode("utf-8") if payload.signature else None,
        environment=payload.environment,
        run_id=run_id_for(ctx.key),
        task_id=ctx.task_id,
    )
    report = verify(get_engine(ctx.settings), ctx.settings, request, ctx.transaction)
    summary = report.as_dict()
    summary["failures"] = summary["failures"][:20]
    return summary
