"""`GET /api/migration-analytics/rollup` and `/health` (admin:read), and the dashboard's
migrations panel (templates/_migrations.html) through a context function.

Every query runs in a READ ONLY transaction, as SHEEN_ANALYTICS_DB_ROLE when set (the
`sheen_analytics_reader` role migration 0008 creates: SELECT on the analytics tables
only). `userId` is explicit; without it the roll-up covers every user.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue
from pydantic import BaseModel

from sheen.analytics.rollup import MAX_DAYS, MigrationRollup, health, rollup
from sheen.security.flask_auth import require_scope
from sheen.sidecar.deps import deps

blueprint = Blueprint("migration_analytics", __name__, url_prefix="/api/migration-analytics")
PANEL_DAYS = 7


class AnalyticsHealth(BaseModel):
    status: str
    emit: bool
    role: str
    read_only: bool
    last_event_at: datetime | None
    events_last_hour: int
    checked_at: datetime


def _bad_request(detail: str) -> ResponseReturnValue:
    response = jsonify({"error": "bad_request", "detail": detail})
    response.status_code = 400
    return response


def rollup_data(user_id: uuid.UUID | None = None, days: int = PANEL_DAYS) -> MigrationRollup:
    d = deps()
    return rollup(d.engine, user_id, days, role=d.settings.analytics_db_role)


@blueprint.app_context_processor
def _panel() -> dict[str, Any]:
    return {"migration_rollup": rollup_data}


@blueprint.get("/rollup")
@require_scope("admin:read")
def migration_rollup() -> ResponseReturnValue:
    raw_user = request.args.get("userId") or None
    raw_days = request.args.get("days") or "7"
    try:
        user_id = uuid.UUID(raw_user) if raw_user else None
    except ValueError:
        return _bad_request("userId: a UUID")
    if not raw_days.isdigit() or not 1 <= int(raw_days) <= MAX_DAYS:
        return _bad_request(f"days: a whole number of days, 1..{MAX_DAYS}")
    return jsonify(rollup_data(user_id, int(raw_days)).model_dump(mode="json"))


@blueprint.get("/health")
@require_scope("admin:read")
def migration_analytics_health() -> ResponseReturnValue:
    d = deps()
    found = health(d.engine, role=d.settings.analytics_db_role)
    body = AnalyticsHealth(
        status="ok", emit=d.settings.analytics_emit, checked_at=datetime.now(UTC), **found
    )
    return jsonify(body.model_dump(mode="json"))
