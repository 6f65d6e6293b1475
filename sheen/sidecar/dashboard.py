"""`GET /`: the HTML dashboard, rendered on the server from the same services as the API.

It reloads itself (meta refresh) and draws its trends as inline SVG, so it works without
JavaScript and offline. A browser gets in through `sheen-ops dashboard` (a one-time
login URL, sheen.sidecar.session); a bearer header works too. The page's one action,
the test alert, is a form POST checked against the session's CSRF token.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from flask import Blueprint, g, jsonify, redirect, render_template, request
from flask.typing import ResponseReturnValue

from sheen.security import flask_auth
from sheen.security.flask_auth import require_scope
from sheen.security.tokens import AdminClaims
from sheen.services.trends import QUEUE_WINDOW, Trends, trends
from sheen.sidecar import charts
from sheen.sidecar.api import TEST_ALERT_TASK, overview_data, server_health_data
from sheen.sidecar.deps import deps
from sheen.sidecar.session import csrf_ok, csrf_token, message_page, no_store_headers

blueprint = Blueprint("dashboard", __name__, template_folder="templates")
REFRESH_SECONDS = 15
NO_LOGIN = "Run `sheen-ops dashboard` for a one-time login link (or send a bearer token)."


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f} %"


def secs(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"


def trends_data() -> Trends:
    d = deps()
    registry = d.dead_letter_registry()
    jobs = [j.job for j in overview_data().jobs]
    return trends(d.settings, d.engine, d.redis, getattr(registry, "client", None), jobs)


@blueprint.get("/")
def dashboard() -> ResponseReturnValue:
    outcome = flask_auth.check_request("admin:read", allow_session=True)
    if not isinstance(outcome, AdminClaims):
        wants_html = request.accept_mimetypes.best_match(["application/json", "text/html"])
        if wants_html == "text/html" and not request.headers.get("Authorization"):
            html, status, headers = message_page(401, "Login needed", NO_LOGIN)
            return html, status, {**headers, "WWW-Authenticate": 'Bearer realm="sheen-admin"'}
        return outcome
    g.admin_claims = outcome
    trend = trends_data()
    now = trend.generated_at
    html = render_template(
        "dashboard.html",
        health=server_health_data(),
        overview=overview_data(),
        trends=trend,
        charts=charts,
        queue_start=now - QUEUE_WINDOW,
        queue_end=now,
        refresh=REFRESH_SECONDS,
        pct=pct,
        secs=secs,
        claims=outcome,
        in_session=not request.headers.get("Authorization"),
        can_write=outcome.has_scope("admin:write"),
        csrf_token=csrf_token(),
        notice=request.args.get("notice", ""),
        expires=datetime.fromtimestamp(outcome.expires_at, UTC) if outcome.expires_at else None,
    )
    return html, 200, no_store_headers()


@blueprint.post("/dashboard/test-alert")
@require_scope("admin:write", session=True)
def test_alert_form() -> ResponseReturnValue:
    """The page's test-alert button: one fleet.test_alert (mode fail), CSRF-checked."""
    if not csrf_ok():
        return message_page(403, "Refused", "the form's CSRF token does not match this session")
    task_id = (
        deps().send_task(TEST_ALERT_TASK, kwargs={"mode": "fail", "nonce": uuid.uuid4().hex}).id
    )
    return redirect(f"/?notice=test-alert-{task_id}", code=303)


@blueprint.get("/api/trends")
@require_scope("admin:read")
def trends_api() -> ResponseReturnValue:
    return jsonify(trends_data().model_dump(mode="json"))
