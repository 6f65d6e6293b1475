"""Run each idempotency key once: skip keys already done or held by another delivery.

One Redis round trip before the run (claim: count the delivery, check the key,
take the lease) and one after it (complete or release). A message delivered more
than `max_deliveries` times without finishing is a poison pill: it is refused
here and dead-lettered with reason `worker_lost` instead of killing another worker.
Another delivery of the same task id holding the lease (`held`) is never run beside
it: this copy is deferred until the lease has expired. Tasks with
`idempotent = False` (fleet.ping) only count their delivery.
"""

from __future__ import annotations

from typing import Any

import structlog
from celery.exceptions import Retry

from sheen.db.engine import get_engine
from sheen.errors import PoisonPill
from sheen.reliability.clients import state_redis
from sheen.reliability.done_marks import AlreadyDone, keys_done
from sheen.reliability.idempotency import Claim, IdempotencyRegistry
from sheen.services.job_runs import finish_run, record_skip, start_run
from sheen.settings import Settings
from workers.context import RunContext
from workers.middleware import CallNext, Middleware

log = structlog.get_logger("sheen.jobs")
# The lease outlives the hard time limit by this much (times SHEEN_TIME_LIMIT_SCALE, at
# least 1 s), then a dead holder's key frees itself.
LEASE_MARGIN_SECONDS = 10.0
DEFAULT_LEASE_SECONDS = 3600.0
# A copy deferred this often behind a holder of its own task id is dead-lettered instead.
MAX_DEFERRALS = 5
DEFER_MARGIN_SECONDS = 0.5

_registries: dict[str, IdempotencyRegistry] = {}


def idempotency_registry(settings: Settings) -> IdempotencyRegistry:
    reg = _registries.get(settings.redis_url)
    if reg is None:
        reg = _registries[settings.redis_url] = IdempotencyRegistry(
            state_redis(settings), retention_seconds=settings.done_key_retention_seconds
        )
    return reg


def lease_seconds(time_limit: float | None, scale: float) -> float:
    """How long a delivery holds its key: its hard time limit plus a margin."""
    if not time_limit:
        return DEFAULT_LEASE_SECONDS
    return float(time_limit) + max(LEASE_MARGIN_SECONDS * scale, 1.0)


class Idempotency(Middleware):
    def around(self, ctx: RunContext, call_next: CallNext) -> Any:
        task = ctx.task
        key = ctx.idempotency_key if getattr(task, "idempotent", True) else None
        registry = idempotency_registry(ctx.settings)
        max_deliveries = ctx.settings.max_deliveries
        headers = task.request.headers or {}
        retries = int(task.request.retries or 0)
        claim = registry.claim(
            ctx.job,
            key,
            ctx.task_id,
            retries,
            lease_seconds(task.time_limit, ctx.settings.time_limit_scale),
            max_deliveries,
            requeued_from=headers.get("dead_letter_id"),
            attempt=retries - int(headers.get("deferrals") or 0),
        )
        if claim.state == "poison":
            error = f"delivered {claim.deliveries} times without finishing (max {max_deliveries})"
            self._record_poison(ctx, error)
            raise PoisonPill(error)
        if claim.state == "held":
            self._defer(ctx, claim)
        if claim.state in ("done", "busy"):
            return self._skip(ctx, "done" if claim.state == "done" else "in_flight")
        if key is None:
            return call_next()
        if headers.get("dead_letter_id") and self._done_in_database(ctx, key):
            # A requeued letter whose work finished (Redis forgot, or the timeout came late).
            self._complete(registry, ctx, key, claim.holder)
            return self._skip(ctx, "done")
        try:
            result = call_next()
        except AlreadyDone:
            # PostgreSQL says another copy committed this key: tell Redis too, and skip.
            self._complete(registry, ctx, key, claim.holder)
            return self._skip(ctx, "done", recorded=ctx.run_id is not None)
        except BaseException:
            # Never let a Redis error here replace the real outcome (a Retry already
            # published, a failure to dead-letter): the lease expires on its own.
            try:
                registry.release(ctx.job, key, ctx.task_id, claim.holder)
            except Exception as err:
                log.warning("lease_release_failed", error_type=type(err).__name__)
            raise
        self._complete(registry, ctx, key, claim.holder)
        return result

    @staticmethod
    def _done_in_database(ctx: RunContext, key: str) -> bool:
        return bool(keys_done(get_engine(ctx.settings), [(ctx.job, key)]))

    @staticmethod
    def _complete(registry: IdempotencyRegistry, ctx: RunContext, key: str, holder: str) -> None:
        try:
            registry.complete(ctx.job, key, ctx.task_id, holder)
        except Exception as err:
            # The work is done and committed; for tasks that commit through
            # ctx.transaction() PostgreSQL holds the done-mark, so a later copy is skipped.
            log.warning("key_complete_failed", error_type=type(err).__name__)

    def _defer(self, ctx: RunContext, claim: Claim) -> None:
        """Come back once the lease held by another delivery of this task id has expired."""
        task = ctx.task
        request = task.request
        headers = dict(request.headers or {})
        deferrals = int(headers.get("deferrals") or 0) + 1
        if deferrals > MAX_DEFERRALS:
            error = (
                f"lease held by another delivery of this task id through {MAX_DEFERRALS} deferrals"
            )
            self._record_poison(ctx, error)
            raise PoisonPill(error)
        headers["deferrals"] = deferrals
        countdown = claim.lease_left_seconds + DEFER_MARGIN_SECONDS
        ctx.status = "retry"
        log.warning("job_deferred", reason="lease_held", countdown=round(countdown, 3))
        retries = int(request.retries or 0)
        try:
            task.retry(countdown=countdown, headers=headers, max_retries=retries + 1)
        except Retry as published:
            ctx.published_retry = published
            raise
        raise AssertionError("Task.retry returned without raising")  # pragma: no cover

    def _skip(self, ctx: RunContext, reason: str, recorded: bool = False) -> dict[str, Any]:
        ctx.status = "skipped"
        log.info("job_skipped", reason=reason, idempotency_key=ctx.idempotency_key)
        if not recorded and getattr(ctx.task, "record_runs", True):
            record_skip(get_engine(ctx.settings), ctx.run_start(), reason)
        return {"skipped": True, "reason": reason, "idempotency_key": ctx.idempotency_key}

    def _record_poison(self, ctx: RunContext, error: str) -> None:
        ctx.status = "failure"
        log.error("job_poison_pill", error=error)
        if getattr(ctx.task, "record_runs", True):
            engine = get_engine(ctx.settings)
            run_id, ctx.attempt = start_run(engine, ctx.run_start())
            finish_run(engine, run_id, "failure", 0.0, error=f"worker_lost: {error}")
