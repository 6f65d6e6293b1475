"""The one place that says which middleware wraps every task, and in what order.

Outermost first: each entry wraps everything after it.
"""

from __future__ import annotations

from functools import partial
from time import perf_counter
from typing import Any

from sheen import metrics
from workers.context import RunContext
from workers.middleware import CallNext, Middleware
from workers.middleware.analytics import Analytics
from workers.middleware.dead_letters import DeadLetters
from workers.middleware.idempotency import Idempotency
from workers.middleware.log_context import LogContext
from workers.middleware.metrics import Metrics
from workers.middleware.retries import Retries
from workers.middleware.run_record import RunRecord
from workers.middleware.validation import Validation

MIDDLEWARE: tuple[Middleware, ...] = (
    Metrics(),  # outermost: records the final status every inner layer agreed on
    LogContext(),
    DeadLetters(),  # a final failure (not a scheduled retry) of anything inside is dead-lettered
    Analytics(),  # migration steps: started / retry (the inner Retries' Retry) / completed / failed
    Validation(),  # payload -> ctx.payload and ctx.idempotency_key; PayloadError is permanent
    Idempotency(),  # one Redis round trip: skip done/in-flight keys, refuse poison pills
    Retries(),  # also retries RunRecord's own writes (database down before the row exists)
    RunRecord(),  # the job_runs row sees retry / timeout / failure / success
    Retries(),  # innermost: transient errors become a backoff retry or RetriesExhausted
)


def run_pipeline(
    ctx: RunContext, body: CallNext, middleware: tuple[Middleware, ...] = MIDDLEWARE
) -> Any:
    """Run `body` inside every middleware; the time spent outside the body is observed
    as sheen_middleware_overhead_seconds (what the pipeline costs each execution)."""
    in_body = 0.0

    def timed_body() -> Any:
        nonlocal in_body
        began = perf_counter()
        try:
            return body()
        finally:
            in_body += perf_counter() - began

    call: CallNext = timed_body
    for mw in reversed(middleware):
        call = partial(mw.around, ctx, call)
    began = perf_counter()
    try:
        return call()
    finally:
        metrics.observe_middleware_overhead(ctx.job, perf_counter() - began - in_body, ctx.settings)
