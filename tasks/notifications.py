"""trust_safety.notify and trust_safety.appeal, enqueued by the main application.

Thin shells: the payload in, one service call (sheen.notifications), a small dict out.
Each records through ctx.transaction() (its done-mark with the rows), then sends.
"""

from __future__ import annotations

from typing import Any

from schemas.notifications import AppealPayload, NotifyPayload
from sheen.db.engine import get_engine
from sheen.notifications import AppealRequest, NewNotification, appeal, negotiate, notify
from sheen.notifications.categories import parse_params, stored_params
from workers.app import app
from workers.base import FleetTask
from workers.context import RunContext

LOCALE_HEADER = "x-sheen-locale"


def _header_locale(ctx: RunContext) -> str | None:
    value = (ctx.task.request.headers or {}).get(LOCALE_HEADER)
    return value if isinstance(value, str) else None


class NotifyTask(FleetTask):
    payload_schema = NotifyPayload
    expected_runtime_seconds = 30  # one SMTP exchange; its timeout is 10 s
    soft_time_limit = 90
    time_limit = 120


class AppealTask(FleetTask):
    payload_schema = AppealPayload
    expected_runtime_seconds = 30  # a webhook call and an SMTP exchange
    soft_time_limit = 90
    time_limit = 120


@app.task(base=NotifyTask, name="trust_safety.notify", bind=False)
def trust_safety_notify(ctx: RunContext) -> dict[str, Any]:
    payload = ctx.payload_as(NotifyPayload)
    new = NewNotification(
        user_id=payload.user_id,
        category=payload.category.value,
        locale=negotiate(_header_locale(ctx), payload.locale),
        params=stored_params(parse_params(payload.category, payload.params)),
        request_key=ctx.key,
    )
    return notify(ctx.transaction, get_engine(ctx.settings), ctx.settings, new).as_dict()


@app.task(base=AppealTask, name="trust_safety.appeal", bind=False)
def trust_safety_appeal(ctx: RunContext) -> dict[str, Any]:
    payload = ctx.payload_as(AppealPayload)
    asked = _header_locale(ctx) or payload.locale
    request = AppealRequest(
        token=payload.token,
        user_id=payload.user_id,
        message=payload.message,
        locale=negotiate(asked) if asked else None,
        request_key=ctx.key,
    )
    return appeal(ctx.transaction, get_engine(ctx.settings), ctx.settings, request).as_dict()
