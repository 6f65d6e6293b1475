"""`GET /api/user-notifications?userId=` and `GET /api/appeals?status=` (admin:read).

What a user was told (category, locale, status, suppression or failure reason, times, the
typed template parameters) and the appeal tickets by status. Never an e-mail address; the
user's own appeal message stays with the helpdesk (it is not listed here).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, Field

from sheen.notifications import store
from sheen.security.flask_auth import require_scope
from sheen.sidecar.deps import deps

blueprint = Blueprint("notifications", __name__, url_prefix="/api")
APPEAL_STATUSES = ("open", "in_review", "resolved")
LIMIT = 100


class UserNotification(BaseModel):
    id: uuid.UUID
    category: Literal[
        "content_violation", "account_warning", "temporary_restriction", "appeal_update"
    ]
    locale: Literal["en", "es", "fr"]
    status: Literal["pending", "sent", "suppressed", "failed"]
    suppressed_reason: Literal["rate_limited", "kill_switch"] | None
    failure_reason: str | None
    attempts: int
    params: dict[str, Any]
    created_at: datetime
    sent_at: datetime | None
    read_at: datetime | None


class UserNotifications(BaseModel):
    user_id: uuid.UUID
    notifications: list[UserNotification] = Field(description=f"Newest first, at most {LIMIT}.")


class Appeal(BaseModel):
    id: uuid.UUID
    notification_id: uuid.UUID
    user_id: uuid.UUID
    category: str
    status: Literal["open", "in_review", "resolved"]
    locale: str | None
    notified_at: str | None
    forwarded_at: datetime | None
    created_at: datetime
    updated_at: datetime


class Appeals(BaseModel):
    status: Literal["open", "in_review", "resolved"] | None
    appeals: list[Appeal] = Field(description=f"Newest first, at most {LIMIT}.")


def _bad_request(detail: str) -> ResponseReturnValue:
    response = jsonify({"error": "bad_request", "detail": detail})
    response.status_code = 400
    return response


@blueprint.get("/user-notifications")
@require_scope("admin:read")
def user_notifications() -> ResponseReturnValue:
    raw = request.args.get("userId", "")
    try:
        user_id = uuid.UUID(raw)
    except ValueError:
        return _bad_request("userId: a user's UUID is required")
    rows = store.user_notifications(deps().engine, user_id, LIMIT)
    body = UserNotifications(
        user_id=user_id, notifications=[UserNotification.model_validate(r) for r in rows]
    )
    return jsonify(body.model_dump(mode="json"))


@blueprint.get("/appeals")
@require_scope("admin:read")
def appeals() -> ResponseReturnValue:
    status = request.args.get("status") or None
    if status is not None and status not in APPEAL_STATUSES:
        return _bad_request("status: open, in_review or resolved")
    found = [
        Appeal.model_validate(
            {
                **r,
                "locale": r["context"].get("locale"),
                "notified_at": r["context"].get("notified_at"),
            }
        )
        for r in store.appeals(deps().engine, status, LIMIT)
    ]
    return jsonify(Appeals(status=status, appeals=found).model_dump(mode="json"))  # type: ignore[arg-type]
