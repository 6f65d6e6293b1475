"""Payloads of the notifications domain (enqueued by the main application)."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sheen.notifications.categories import Category

LOCALE_INPUT_CAP = 200  # longer is not a locale: negotiated as absent (English), never an error


def _locale(value: Any) -> str | None:
    return value if isinstance(value, str) and len(value) <= LOCALE_INPUT_CAP else None


class NotifyPayload(BaseModel):
    """`trust_safety.notify`: tell a user about a moderation action.

    `params` may hold anything: only the typed template parameters are kept (see
    sheen.notifications.categories), so codes and notes never reach the text. The locale
    is the `x-sheen-locale` header, else this field, negotiated (English by default).
    Pass the moderation action's id as `idempotency_key`: a repeated request is one.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    user_id: uuid.UUID
    category: Category
    locale: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str | None = Field(default=None, max_length=200)

    _locale = field_validator("locale", mode="before")(_locale)


class AppealPayload(BaseModel):
    """`trust_safety.appeal`: the user opened the appeal link and sent a message."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    token: str = Field(min_length=1, max_length=2000)
    user_id: uuid.UUID
    message: str = Field(default="", max_length=5000)
    locale: str | None = None
    idempotency_key: str | None = Field(default=None, max_length=200)

    _locale = field_validator("locale", mode="before")(_locale)
