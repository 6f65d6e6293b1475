"""Open endpoints: liveness, readiness (real round trips) and the sidecar's metrics."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from flask.typing import ResponseReturnValue

from sheen.services.readiness import check_readiness
from sheen.sidecar.deps import deps

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz() -> ResponseReturnValue:
    return jsonify({"status": "ok"})


@blueprint.get("/readyz")
def readyz() -> ResponseReturnValue:
    d = deps()
    result = check_readiness(d.settings, d.engine)
    response = jsonify(result.model_dump(mode="json"))
    response.status_code = 200 if result.ready else 503
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/metrics")
def metrics() -> ResponseReturnValue:
    """Queue depth and dead letters, sampled now (the workers export the per-run series)."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    from sheen.metrics import SampledStateCollector
    from sheen.services.state_sources import dead_letter_counts

    d = deps()
    registry = CollectorRegistry()
    registry.register(
        SampledStateCollector(d.settings, d.queue_depths, lambda: dead_letter_counts(d.settings))
    )
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
