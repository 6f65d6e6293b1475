"""A site migration in steps: the worked example of a migration-step task.

fetch site -> rewrite assets -> deploy (its step event commits with the task's
done-mark) -> `migration.verify` enqueued when a manifest is given. The steps stand in
for the real work (they wait `step_seconds`); a payload can make one of them fail
transiently (for the first `fail_times` attempts) or permanently.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from schemas.analytics import MigrationRunPayload
from sheen.errors import SheenError, TransientError

if TYPE_CHECKING:
    from workers.context import RunContext

VERIFY_TASK = "migration.verify"


class MigrationStepFailed(SheenError):
    """A migration step failed for good (bad source, refused deploy): not retried."""


def _maybe_fail(payload: MigrationRunPayload, step: str, attempt: int) -> None:
    if payload.fail_step != step:
        return
    if payload.fail_mode == "permanent":
        raise MigrationStepFailed(f"{step}: failed (drill)")
    if attempt <= payload.fail_times:
        raise TransientError(f"{step}: unavailable (drill, attempt {attempt})")


def _work(payload: MigrationRunPayload, step: str, attempt: int) -> None:
    time.sleep(payload.step_seconds)
    _maybe_fail(payload, step, attempt)


def run_migration(ctx: RunContext, send_task: Any) -> dict[str, Any]:
    payload = ctx.payload_as(MigrationRunPayload)
    attempt = int(ctx.task.request.retries or 0) + 1
    with ctx.step("fetch_site"):
        _work(payload, "fetch_site", attempt)
    with ctx.step("rewrite_assets") as step:
        _work(payload, "rewrite_assets", attempt)
        step.ai_seconds = payload.ai_seconds
    # The deploy, its step event and the key's done-mark commit together: a redelivery
    # after this point is skipped, one before it deploys again (safe to repeat).
    with ctx.transaction() as conn, ctx.step("deploy", conn=conn):
        _work(payload, "deploy", attempt)
    verify_task_id = None
    if payload.verify is not None:
        with ctx.step("verify"):
            _maybe_fail(payload, "verify", attempt)
            # Idempotent by its explicit key: a repeated enqueue is skipped by migration.verify.
            verify_task_id = str(
                send_task(
                    VERIFY_TASK,
                    kwargs={
                        **payload.verify.model_dump(),
                        "idempotency_key": f"migration-verify:{payload.migration_id}",
                    },
                ).id
            )
    return {
        "migration_id": str(payload.migration_id),
        "attempt": attempt,
        "verify_task_id": verify_task_id,
    }
