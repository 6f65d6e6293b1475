"""The one place that says which middleware wraps every task, and in what order.

Outermost first: each entry wraps everything after it.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from workers.context import RunContext
from workers.middleware import CallNext, Middleware
from workers.middleware.log_context import LogContext
from workers.middleware.metrics import Metrics
from workers.middleware.run_record import RunRecord
from workers.middleware.validation import Validation

MIDDLEWARE: tuple[Middleware, ...] = (
    Metrics(),  # outermost: records the final status every inner layer agreed on
    LogContext(),
    Validation(),
    RunRecord(),
)


def run_pipeline(
    ctx: RunContext, body: CallNext, middleware: tuple[Middleware, ...] = MIDDLEWARE
) -> Any:
    call: CallNext = body
    for mw in reversed(middleware):
        call = partial(mw.around, ctx, call)
    return call()
