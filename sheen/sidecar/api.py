"""`/api/*`: the jobs overview, server health and the one operational endpoint."""

from __future__ import annotations

import uuid
from typing import Literal

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sheen.security.flask_auth import require_scope
from sheen.services.overview import JobsOverview, jobs_overview
from sheen.services.server_health import ServerHealth, read_health
from sheen.sidecar.deps import deps

blueprint = Blueprint("api", __name__, url_prefix="/api")
TEST_ALERT_TASK = "fleet.test_alert"


class TestAlertRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["fail", "hang", "flaky"] = "fail"
    count: int = Field(1, ge=1, le=100, description="How many test tasks to enqueue.")


class TestAlertAccepted(BaseModel):
    task: str
    mode: str
    task_ids: list[str]


class Problem(BaseModel):
    error: str
    detail: str


def overview_data() -> JobsOverview:
    d = deps()
    return jobs_overview(d.engine, d.queue_depths, d.settings.queue_names, d.dead_letter_registry())


def server_health_data() -> ServerHealth:
    d = deps()
    return read_health(d.settings, d.engine, d.redis, d.queue_depths)


@blueprint.get("/jobs/overview")
@require_scope("admin:read")
def overview() -> ResponseReturnValue:
    return jsonify(overview_data().model_dump(mode="json"))


@blueprint.get("/server-health")
@require_scope("admin:read")
def server_health() -> ResponseReturnValue:
    return jsonify(server_health_data().model_dump(mode="json"))


@blueprint.post("/jobs/test-alert")
@require_scope("admin:write")
def test_alert() -> ResponseReturnValue:
    raw = request.get_json(silent=True) if request.content_length else {}
    if raw is None or not isinstance(raw, dict):
        return _problem(400, "bad_request", "body must be a JSON object")
    try:
        body = TestAlertRequest.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "body"
        return _problem(400, "bad_request", f"{where}: {err['msg']}")
    d = deps()
    # A nonce per message: each test alert is its own idempotency key, so none is skipped.
    ids = [
        str(d.send_task(TEST_ALERT_TASK, kwargs={"mode": body.mode, "nonce": uuid.uuid4().hex}).id)
        for _ in range(body.count)
    ]
    accepted = TestAlertAccepted(task=TEST_ALERT_TASK, mode=body.mode, task_ids=ids)
    response = jsonify(accepted.model_dump(mode="json"))
    response.status_code = 202
    return response


def _problem(status: int, error: str, detail: str) -> ResponseReturnValue:
    response = jsonify(Problem(error=error, detail=detail).model_dump())
    response.status_code = status
    return response
