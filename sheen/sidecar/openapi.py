"""`GET /openapi.json`: the OpenAPI 3.1 document, its schemas generated from the same
pydantic models the views serialise with, so the document cannot drift from the answers.

Why not apiflask or spectree: pydantic is already the fleet's validation library and
its JSON Schema output is OpenAPI 3.1's dialect; generating the few path entries here
keeps one dependency fewer and the routes plain Flask (flask_auth decorates them).
"""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from sheen.services.overview import JobsOverview
from sheen.services.readiness import Readiness
from sheen.services.server_health import ServerHealth
from sheen.services.trends import Trends
from sheen.sidecar.analytics import AnalyticsHealth, MigrationRollup
from sheen.sidecar.api import Problem, TestAlertAccepted, TestAlertRequest
from sheen.sidecar.notifications import Appeals, UserNotifications
from sheen.sidecar.verification import MigrationVerification

blueprint = Blueprint("openapi", __name__)
REF = "#/components/schemas/{model}"
MODELS: list[type[BaseModel]] = [
    JobsOverview,
    ServerHealth,
    Trends,
    Readiness,
    Problem,
    MigrationVerification,
    UserNotifications,
    Appeals,
    MigrationRollup,
    AnalyticsHealth,
    TestAlertRequest,
    TestAlertAccepted,
]


class Health(BaseModel):
    status: str


ALL_MODELS: list[type[BaseModel]] = [*MODELS, Health]


def _json(model: type[BaseModel] | str, description: str) -> dict[str, Any]:
    name = model if isinstance(model, str) else model.__name__
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": REF.format(model=name)}}},
    }


def _text(media: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {media: {"schema": {"type": "string"}}}}


AUTH_ERRORS = {
    "401": _json(Problem, "Missing, malformed, expired or otherwise invalid bearer token."),
    "403": _json(Problem, "Valid token without the required scope."),
}


def _secured(scope: str, responses: dict[str, Any], summary: str, op_id: str) -> dict[str, Any]:
    return {
        "summary": summary,
        "operationId": op_id,
        "security": [{"bearerAuth": [scope]}],
        "responses": {**responses, **AUTH_ERRORS},
    }


@cache
def document() -> dict[str, Any]:
    pairs: list[tuple[type[BaseModel], Literal["serialization"]]] = [
        (m, "serialization") for m in ALL_MODELS
    ]
    _, defs = models_json_schema(pairs, ref_template=REF)
    schemas = defs.get("$defs", {})
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "SheenApps fleet sidecar",
            "version": "1",
            "description": "Read-only views of the worker fleet. /healthz, /readyz and /metrics are "
            "open, like this document; everything else needs an admin bearer token (admin:read; "
            "POST /api/jobs/test-alert needs admin:write).",
        },
        "paths": {
            "/healthz": {
                "get": {
                    "summary": "The process is alive.",
                    "operationId": "healthz",
                    "responses": {"200": _json(Health, "Alive.")},
                }
            },
            "/readyz": {
                "get": {
                    "summary": "Broker, Redis and PostgreSQL answer a real round trip.",
                    "operationId": "readyz",
                    "responses": {
                        "200": _json(Readiness, "Every dependency answered."),
                        "503": _json(
                            Readiness, "At least one dependency failed; `failed` names it."
                        ),
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus exposition: queue depth and dead letters, sampled now.",
                    "operationId": "metrics",
                    "responses": {"200": _text("text/plain", "Prometheus text format.")},
                }
            },
            "/api/jobs/overview": {
                "get": _secured(
                    "admin:read",
                    {"200": _json(JobsOverview, "Per-job runs over 24 h, dead letters, queues.")},
                    "Jobs overview.",
                    "jobsOverview",
                )
            },
            "/api/server-health": {
                "get": _secured(
                    "admin:read",
                    {"200": _json(ServerHealth, "SLO states, degraded flag, per-region figures.")},
                    "Server health.",
                    "serverHealth",
                )
            },
            "/api/trends": {
                "get": _secured(
                    "admin:read",
                    {
                        "200": _json(
                            Trends,
                            "Per job runs/failures/dead letters per hour (24 h) and per day "
                            "(7 d); queue depth over the last hour. The page's charts.",
                        )
                    },
                    "Trends.",
                    "trends",
                )
            },
            "/api/jobs/test-alert": {
                "post": {
                    **_secured(
                        "admin:write",
                        {
                            "202": _json(TestAlertAccepted, "Test tasks enqueued."),
                            "400": _json(Problem, "The body is not a valid request."),
                        },
                        "Enqueue fleet.test_alert to prove the alert path.",
                        "testAlert",
                    ),
                    "requestBody": {
                        "required": False,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": REF.format(model="TestAlertRequest")}
                            }
                        },
                    },
                }
            },
            "/api/user-notifications": {
                "get": {
                    **_secured(
                        "admin:read",
                        {
                            "200": _json(
                                UserNotifications, "The user's notifications, newest first."
                            ),
                            "400": _json(Problem, "userId is missing or not a UUID."),
                        },
                        "Trust & safety notifications of one user.",
                        "userNotifications",
                    ),
                    "parameters": [
                        {
                            "name": "userId",
                            "in": "query",
                            "required": True,
                            "schema": {"type": "string", "format": "uuid"},
                        }
                    ],
                }
            },
            "/api/appeals": {
                "get": {
                    **_secured(
                        "admin:read",
                        {
                            "200": _json(Appeals, "Appeal tickets, newest first."),
                            "400": _json(Problem, "status is not a known ticket status."),
                        },
                        "Appeal tickets by status.",
                        "appeals",
                    ),
                    "parameters": [
                        {
                            "name": "status",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string", "enum": ["open", "in_review", "resolved"]},
                        }
                    ],
                }
            },
            "/api/migration-verification": {
                "get": {
                    **_secured(
                        "admin:read",
                        {
                            "200": _json(
                                MigrationVerification, "Latest run per domain and environment."
                            ),
                            "400": _json(Problem, "A query parameter is not valid."),
                        },
                        "Site-migration verification: latest runs.",
                        "migrationVerification",
                    ),
                    "parameters": [
                        {
                            "name": "domain",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string", "pattern": "^[a-z0-9.-]{1,253}$"},
                        },
                        {
                            "name": "env",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string", "enum": ["ci", "staging", "production"]},
                        },
                    ],
                }
            },
            "/api/migration-analytics/rollup": {
                "get": {
                    **_secured(
                        "admin:read",
                        {
                            "200": _json(
                                MigrationRollup,
                                "Per UTC day and overall: event counts, success %, P50/P95 "
                                "durations, steps, retries and AI seconds per migration.",
                            ),
                            "400": _json(Problem, "A query parameter is not valid."),
                        },
                        "Migration analytics roll-up.",
                        "migrationAnalyticsRollup",
                    ),
                    "parameters": [
                        {
                            "name": "userId",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string", "format": "uuid"},
                        },
                        {
                            "name": "days",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "integer", "minimum": 1, "maximum": 90},
                        },
                    ],
                }
            },
            "/api/migration-analytics/health": {
                "get": _secured(
                    "admin:read",
                    {"200": _json(AnalyticsHealth, "Read-only round trip; last hour of events.")},
                    "Migration analytics health.",
                    "migrationAnalyticsHealth",
                )
            },
            "/openapi.json": {
                "get": {
                    "summary": "This OpenAPI document (open, like /healthz).",
                    "operationId": "openapi",
                    "responses": {
                        "200": {
                            "description": "This document.",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
            "/": {
                "get": _secured(
                    "admin:read",
                    {"200": _text("text/html", "The dashboard; it reloads itself.")},
                    "HTML dashboard.",
                    "dashboard",
                )
            },
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }


@blueprint.get("/openapi.json")
def openapi_json() -> ResponseReturnValue:
    return jsonify(document())
