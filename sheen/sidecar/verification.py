"""`GET /api/migration-verification`: the latest verification run per domain and environment.

Also gives the dashboard its "failed verifications, last 24 h" panel
(templates/_verification.html) through a context function, so the page's own
view needs no change: the panel calls `verification_failures_24h()` when drawn.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, Field

from sheen.security.flask_auth import require_scope
from sheen.sidecar.deps import deps
from sheen.verification import store

blueprint = Blueprint("verification", __name__, url_prefix="/api")
PANEL_WINDOW = timedelta(hours=24)
DOMAIN = re.compile(r"[a-z0-9.-]{1,253}")  # what a manifest's domain may be


class VerificationRun(BaseModel):
    run_id: uuid.UUID
    domain: str | None
    environment: Literal["ci", "staging", "production"]
    commit_sha: str | None
    manifest_version: int | None
    result: Literal["success", "failure", "refused"]
    reason: str | None
    files_total: int
    files_matched: int
    files_failed: int
    schema_matched: bool | None
    finished_at: datetime
    duration_seconds: float


class MigrationVerification(BaseModel):
    generated_at: datetime
    runs: list[VerificationRun] = Field(
        description="The newest run of each (domain, environment), filtered by the query."
    )


class FailedVerification(BaseModel):
    run_id: uuid.UUID
    domain: str | None
    environment: str
    commit_sha: str | None
    result: str
    reason: str | None
    files_failed: int
    finished_at: datetime


def latest_runs(domain: str | None, environment: str | None) -> MigrationVerification:
    rows = store.latest_per_domain_env(deps().engine, domain, environment)
    return MigrationVerification(
        generated_at=datetime.now(UTC), runs=[VerificationRun.model_validate(r) for r in rows]
    )


def failed_last_24h() -> list[FailedVerification]:
    since = datetime.now(UTC) - PANEL_WINDOW
    return [FailedVerification.model_validate(r) for r in store.failed_since(deps().engine, since)]


@blueprint.app_context_processor
def _panel() -> dict[str, Any]:
    return {"verification_failures_24h": failed_last_24h}


@blueprint.get("/migration-verification")
@require_scope("admin:read")
def migration_verification() -> ResponseReturnValue:
    domain = request.args.get("domain") or None
    environment = request.args.get("env") or None
    if environment not in (None, "ci", "staging", "production"):
        response = jsonify({"error": "bad_request", "detail": "env: ci, staging or production"})
        response.status_code = 400
        return response
    if domain is not None and not DOMAIN.fullmatch(domain):
        response = jsonify({"error": "bad_request", "detail": "domain: a host name like a.example"})
        response.status_code = 400
        return response
    return jsonify(latest_runs(domain, environment).model_dump(mode="json"))
