"""The one place that says which middleware wraps every task, and in what order.

Outermost first: each entry wraps everything after it.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from workers.context import RunContext
from workers.middleware import CallNext, Middleware
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
    Validation(),  # payload -> ctx.payload and ctx.idempotency_key; PayloadError is permanent
    Idempotency(),  # one Redis round trip: skip done/in-flight keys, refuse poison pills
    Retries(),  # also retries RunRecord's own writes (database down before the row exists)
    RunRecord(),  # the job_runs row sees retry / timeout / failure / success
    Retries(),  # innermost: transient errors become a backoff retry or RetriesExhausted
)


def run_pipeline(
    ctx: RunContext, body: CallNext, middleware: tuple[Middleware, ...] = MIDDLEWARE
) -> Any:
    call: CallNext = body
    for mw in reversed(middleware):
        call = partial(mw.around, ctx, call)
    return call()
