"""`GET /`: the HTML dashboard, rendered on the server from the same services as the API.

It reloads itself (meta refresh) so it works without JavaScript and behind a proxy
that adds the Authorization header; numbers are never older than the last reload.
"""

from __future__ import annotations

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue

from sheen.security.flask_auth import require_scope
from sheen.sidecar.api import overview_data, server_health_data

blueprint = Blueprint("dashboard", __name__, template_folder="templates")
REFRESH_SECONDS = 15


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f} %"


def secs(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"


@blueprint.get("/")
@require_scope("admin:read")
def dashboard() -> ResponseReturnValue:
    html = render_template(
        "dashboard.html",
        health=server_health_data(),
        overview=overview_data(),
        refresh=REFRESH_SECONDS,
        pct=pct,
        secs=secs,
    )
    return html, 200, {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}
