"""Run each idempotency key once: skip keys already done or held by another delivery.

One Redis round trip before the run (claim: count the delivery, check the key,
take the lease) and one after it (complete or release). A message delivered more
than `max_deliveries` times without finishing is a poison pill: it is refused
here and dead-lettered with reason `worker_lost` instead of killing another worker.
Tasks with `idempotent = False` (fleet.ping) only count their delivery.
"""

from __future__ import annotations

from typing import Any

import structlog

from sheen.db.engine import get_engine
from sheen.errors import PoisonPill
from sheen.reliability.clients import state_redis
from sheen.reliability.idempotency import IdempotencyRegistry
from sheen.services.job_runs import finish_run, record_skip, start_run
from sheen.settings import Settings
from workers.context import RunContext
from workers.middleware import CallNext, Middleware

log = structlog.get_logger("sheen.jobs")
# The lease outlives the hard time limit by this much, then a dead holder's key frees itself.
LEASE_MARGIN_SECONDS = 10.0
DEFAULT_LEASE_SECONDS = 3600.0

_registries: dict[str, IdempotencyRegistry] = {}


def idempotency_registry(settings: Settings) -> IdempotencyRegistry:
    reg = _registries.get(settings.redis_url)
    if reg is None:
        reg = _registries[settings.redis_url] = IdempotencyRegistry(state_redis(settings))
    return reg


class Idempotency(Middleware):
    def around(self, ctx: RunContext, call_next: CallNext) -> Any:
        task = ctx.task
        key = ctx.idempotency_key if getattr(task, "idempotent", True) else None
        limit = task.time_limit
        lease = (float(limit) + LEASE_MARGIN_SECONDS) if limit else DEFAULT_LEASE_SECONDS
        registry = idempotency_registry(ctx.settings)
        max_deliveries = ctx.settings.max_deliveries
        claim = registry.claim(
            ctx.job,
            key,
            ctx.task_id,
            int(task.request.retries or 0),
            lease,
            max_deliveries,
            requeued_from=(task.request.headers or {}).get("dead_letter_id"),
        )
        if claim.state == "poison":
            error = f"delivered {claim.deliveries} times without finishing (max {max_deliveries})"
            self._record_poison(ctx, error)
            raise PoisonPill(error)
        if claim.state in ("done", "busy"):
            return self._skip(ctx, "done" if claim.state == "done" else "in_flight")
        if key is None:
            return call_next()
        try:
            result = call_next()
        except BaseException:
            # Never let a Redis error here replace the real outcome (a Retry already
            # published, a failure to dead-letter): the lease expires on its own.
            try:
                registry.release(ctx.job, key, ctx.task_id)
            except Exception as err:
                log.warning("lease_release_failed", error_type=type(err).__name__)
            raise
        try:
            registry.complete(ctx.job, key, ctx.task_id)
        except Exception as err:
            # The work is done and committed; a missed done-mark only means a later
            # delivery of the same key runs again, which the jobs' own filters make a no-op.
            log.warning("key_complete_failed", error_type=type(err).__name__)
        return result

    def _skip(self, ctx: RunContext, reason: str) -> dict[str, Any]:
        ctx.status = "skipped"
        log.info("job_skipped", reason=reason, idempotency_key=ctx.idempotency_key)
        if getattr(ctx.task, "record_runs", True):
            record_skip(get_engine(ctx.settings), ctx.run_start(), reason)
        return {"skipped": True, "reason": reason, "idempotency_key": ctx.idempotency_key}

    def _record_poison(self, ctx: RunContext, error: str) -> None:
        ctx.status = "failure"
        log.error("job_poison_pill", error=error)
        if getattr(ctx.task, "record_runs", True):
            engine = get_engine(ctx.settings)
            run_id, ctx.attempt = start_run(engine, ctx.run_start())
            finish_run(engine, run_id, "failure", 0.0, error=f"worker_lost: {error}")
