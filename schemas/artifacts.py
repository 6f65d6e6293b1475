"""Payloads of the artifacts domain."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, Field

from schemas.jobs import WindowPayload


class ColdMovePayload(WindowPayload):
    """jobs.artifacts_cold_move: the window's start is the lifecycle clock (`as_of`)."""


class PurgePayload(WindowPayload):
    """jobs.artifacts_purge: the window's start is the lifecycle clock (`as_of`)."""


class RestorePayload(BaseModel):
    """artifacts.restore: who asks, which artifact; a new `request_id` per request."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    artifact_id: uuid.UUID
    actor: str = Field(min_length=1, max_length=200)
    dry_run: bool = False
    # Part of the derived idempotency key: the same request redelivered runs once, a
    # later request for the same artifact (with its own id) runs again.
    request_id: str | None = Field(default=None, max_length=100)
