"""Validate the payload at the boundary: a malformed one is a permanent PayloadError."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from sheen.errors import PayloadError
from workers.context import RunContext
from workers.middleware import CallNext, Middleware


def describe(exc: ValidationError) -> str:
    """One line naming the first bad field and what is wrong with it."""
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "payload"
    more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {err['msg']}{more}"


class Validation(Middleware):
    def around(self, ctx: RunContext, call_next: CallNext) -> Any:
        if ctx.args:
            ctx.status = "failure"
            raise PayloadError(
                f"{ctx.job} takes keyword arguments only, got {len(ctx.args)} positional"
            )
        schema = ctx.task.payload_schema
        try:
            ctx.payload = schema.model_validate(ctx.kwargs)
        except ValidationError as exc:
            ctx.status = "failure"
            raise PayloadError(f"invalid payload for {ctx.job}: {describe(exc)}") from None
        ctx.idempotency_key = ctx.task.idempotency_key(ctx)
        return call_next()
