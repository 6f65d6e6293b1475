"""Payloads of the verification domain."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# A hard bound on the message itself; the manifest's own cap (SHEEN_VERIFICATION_MAX_MANIFEST_BYTES)
# is checked by the verifier, so an oversized manifest is a recorded refusal, not a bad payload.
MESSAGE_CAP = 64 * 1024 * 1024


class VerifyPayload(BaseModel):
    """`migration.verify`: the manifest's exact text and its detached signature document.

    The run id derives from the idempotency key (explicit, or name + payload): a
    redelivered message resumes its run; `nonce` makes a later check of the same
    manifest a run of its own.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    manifest: str = Field(min_length=1, max_length=MESSAGE_CAP)
    signature: str | None = Field(default=None, max_length=4096)
    environment: Literal["ci", "staging", "production"]
    nonce: str | None = Field(default=None, max_length=64)
    idempotency_key: str | None = Field(default=None, max_length=200)
