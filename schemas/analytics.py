"""Payloads of the analytics domain."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.verification import MESSAGE_CAP

Step = Literal["fetch_site", "rewrite_assets", "deploy", "verify"]


class VerifyRequest(BaseModel):
    """What `migration.verify` needs (its manifest, signature and environment)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    manifest: str = Field(min_length=1, max_length=MESSAGE_CAP)
    signature: str | None = Field(default=None, max_length=4096)
    environment: Literal["ci", "staging", "production"]


class MigrationRunPayload(BaseModel):
    """`migration.run`: one site migration in steps (fetch site, rewrite assets, deploy,
    then `migration.verify` when `verify` is given).

    `fail_step` / `fail_mode` / `fail_times` make a step fail on purpose (drills, tests):
    transient for the first `fail_times` attempts (retried with backoff), or permanent
    (dead-lettered). `step_seconds` is how long each step works; `ai_seconds` is the AI
    time the rewrite step reports.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    migration_id: uuid.UUID
    user_id: uuid.UUID
    source_url: str = Field(pattern=r"^https?://[^\s@]{1,2000}$")
    step_seconds: float = Field(default=0.01, ge=0, le=60)
    ai_seconds: float = Field(default=0.0, ge=0, le=86400)
    fail_step: Step | None = None
    fail_mode: Literal["transient", "permanent"] = "transient"
    fail_times: int = Field(default=1, ge=1, le=100)
    verify: VerifyRequest | None = None
    idempotency_key: str | None = Field(default=None, max_length=200)
