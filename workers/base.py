"""The task base every fleet task uses: keyword payloads through the middleware pipeline."""

from __future__ import annotations

from typing import Any

from celery import Task
from pydantic import BaseModel, ConfigDict

from sheen.errors import PayloadError
from workers.context import RunContext
from workers.pipeline import run_pipeline


class NoPayload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FleetTask(Task):
    """Tasks take keyword arguments only, validated by `payload_schema`."""

    payload_schema: type[BaseModel] = NoPayload
    expected_runtime_seconds: int = 60
    typing = False  # the payload schema validates; Celery's signature check would pre-empt it

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if args:
            raise PayloadError(
                f"{self.name} takes keyword arguments only, got {len(args)} positional"
            )
        ctx = RunContext.from_request(self, kwargs)
        return run_pipeline(ctx, lambda: self.run(ctx))

    def idempotency_key(self, ctx: RunContext) -> str:
        """Per-execution key; scheduled jobs override it with their period."""
        explicit = (ctx.task.request.headers or {}).get("idempotency_key")
        return str(explicit or ctx.task_id)
