"""`create_app()`: the sidecar Flask app. Run it with `sheen-ops sidecar` (gunicorn or,
with `--dev`, werkzeug) or `gunicorn 'sheen.sidecar:create_app()'`.

Auth (sheen.security.flask_auth): `/healthz`, `/readyz`, `/metrics` and `/openapi.json`
are open; `/` and every `/api/*` need admin:read; `POST /api/jobs/test-alert`
needs admin:write. `/login?token=...` turns a one-time token into the dashboard's
session cookie (sheen.sidecar.session); only `/` and its forms accept that cookie.
Every unknown path or method answers JSON 404/405.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from sheen.errors import ConfigError
from sheen.security import flask_auth
from sheen.security.tokens import TokenVerifier
from sheen.settings import Settings, load_settings
from sheen.sidecar.deps import EXTENSION_KEY, SidecarDeps


def default_deps(settings: Settings) -> SidecarDeps:
    from sheen.db.engine import get_engine
    from sheen.services.state_sources import (
        dead_letter_registry,
        queue_depth_sampler,
        redis_client,
    )

    def send_task(name: str, **options: Any) -> Any:
        from workers.app import app as celery_app

        return celery_app.send_task(name, **options)

    return SidecarDeps(
        settings=settings,
        engine=get_engine(settings),
        redis=redis_client(settings.redis_url),
        queue_depths=queue_depth_sampler(settings),
        dead_letter_registry=lambda: dead_letter_registry(settings),
        send_task=send_task,
    )


def create_app(
    settings: Settings | None = None,
    *,
    verifier: TokenVerifier | None = None,
    deps: SidecarDeps | None = None,
) -> Flask:
    settings = settings or load_settings()
    if settings.sidecar_auth_disabled and settings.is_production_like:
        raise ConfigError(f"SHEEN_SIDECAR_AUTH_DISABLED is refused in {settings.env.value}")
    app = Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.config[flask_auth.AUTH_DISABLED_KEY] = settings.sidecar_auth_disabled
    if verifier is None:
        from sheen.sidecar.dev_secret import token_config

        verifier = TokenVerifier(token_config(settings))
    flask_auth.init_app(app, verifier)
    app.extensions[EXTENSION_KEY] = deps or default_deps(settings)

    from sheen.sidecar import api, dashboard, health, openapi, session

    session.init_app(app, settings)
    app.register_blueprint(session.blueprint)
    app.register_blueprint(health.blueprint)
    app.register_blueprint(api.blueprint)
    app.register_blueprint(openapi.blueprint)
    app.register_blueprint(dashboard.blueprint)
    from sheen.sidecar import verification as verification_api

    app.register_blueprint(verification_api.blueprint)
    from sheen.sidecar import notifications as notifications_api

    app.register_blueprint(notifications_api.blueprint)
    from sheen.sidecar import analytics as analytics_api

    app.register_blueprint(analytics_api.blueprint)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> ResponseReturnValue:
        response = jsonify(
            {"error": (exc.name or "error").lower().replace(" ", "_"), "detail": exc.description}
        )
        response.status_code = exc.code or 500
        if exc.code == 405 and exc.valid_methods:  # type: ignore[attr-defined]
            response.headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> ResponseReturnValue:
        app.logger.exception("sidecar_error")
        response = jsonify(
            {"error": "server_error", "detail": "unexpected error; see the sidecar log"}
        )
        response.status_code = 500
        return response

    return app
