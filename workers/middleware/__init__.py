"""Reliability middleware: small pieces, each wrapping the next like a layer.

A middleware's `around(ctx, call_next)` runs code before and after the rest of
the pipeline. The order is declared once, in `workers.pipeline.MIDDLEWARE`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from workers.context import RunContext

CallNext = Callable[[], Any]


class Middleware:
    """No-op base: subclasses override `around`."""

    def around(self, ctx: RunContext, call_next: CallNext) -> Any:
        return call_next()
