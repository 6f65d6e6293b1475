"""Browser login for the dashboard: a one-time login URL becomes a signed session cookie.

`sheen-ops dashboard` mints a short-lived token and prints `/login?token=...`. The
login view verifies it exactly as the API verifies a bearer token (pinned algorithms,
audience, issuer, expiry; in production only the configured issuer's keys exist),
burns its `jti` in Redis so the URL works once, and answers with Flask's signed
session cookie (itsdangerous): HttpOnly, SameSite=Strict, Secure outside development,
expiring with the token, carrying only the subject, the verified scopes and the expiry,
plus a CSRF token for the page's forms. `POST /logout` ends it. The API ignores the
cookie: it keeps bearer tokens.
"""

from __future__ import annotations

import hmac
import secrets
import time
from datetime import UTC, datetime
from typing import Any

import structlog
from flask import (
    Blueprint,
    Flask,
    current_app,
    redirect,
    render_template,
    request,
    session,
)
from flask.sessions import SecureCookieSessionInterface
from flask.typing import ResponseReturnValue

from sheen.security import flask_auth
from sheen.security.token_config import DEVELOPMENT_ENVIRONMENTS
from sheen.security.tokens import MAX_MINT_TTL, AuthError, TokenVerifier
from sheen.settings import Settings
from sheen.sidecar.deps import deps

log = structlog.get_logger(__name__)
blueprint = Blueprint("session", __name__, template_folder="templates")
COOKIE_NAME = "sheen_session"
CSRF_KEY = "csrf"
USED_JTI_KEY = "sidecar:login-jti:{jti}"
NOT_CONFIGURED = "browser login needs SHEEN_SIDECAR_SESSION_SECRET (32+ characters)"
CONFIGURED_KEY = "SHEEN_BROWSER_LOGIN"


class TokenBoundSessionInterface(SecureCookieSessionInterface):
    """The cookie expires when the token that opened the session does."""

    def get_expiration_time(self, app: Flask, session: Any) -> datetime | None:
        data = session.get(flask_auth.SESSION_KEY)
        exp = data.get("exp") if isinstance(data, dict) else None
        return datetime.fromtimestamp(exp, UTC) if isinstance(exp, int) else None


def session_secret(settings: Settings) -> str | None:
    if settings.sidecar_session_secret is not None:
        return settings.sidecar_session_secret.get_secret_value()
    if settings.env.value in DEVELOPMENT_ENVIRONMENTS:
        from sheen.sidecar.dev_secret import SESSION_FILE_NAME, dev_secret

        return dev_secret(settings.state_dir, SESSION_FILE_NAME)
    return None


def init_app(app: Flask, settings: Settings) -> None:
    """Configure the signed session cookie; without a secret, /login answers 503."""
    secret = session_secret(settings)
    app.config[CONFIGURED_KEY] = secret is not None
    if secret is not None:
        app.secret_key = secret
    app.session_interface = TokenBoundSessionInterface()
    app.config.update(
        SESSION_COOKIE_NAME=COOKIE_NAME,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=settings.env.value not in DEVELOPMENT_ENVIRONMENTS,
        # The signature's own age limit; the token's expiry (checked on read) is shorter.
        PERMANENT_SESSION_LIFETIME=MAX_MINT_TTL,
    )


def csrf_token() -> str:
    return str(session.get(CSRF_KEY, ""))


def csrf_ok() -> bool:
    sent = request.form.get("csrf_token", "")
    expected = csrf_token()
    return bool(expected) and hmac.compare_digest(sent.encode(), expected.encode())


def message_page(status: int, title: str, message: str) -> tuple[str, int, dict[str, str]]:
    html = render_template("message.html", title=title, message=message)
    return html, status, no_store_headers()


def no_store_headers() -> dict[str, str]:
    return {
        "Content-Type": "text/html; charset=utf-8",
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
    }


def _burn(jti: str, expires_at: int) -> bool:
    """Mark the token's id used; False if it already was (the URL works once)."""
    ttl = max(int(expires_at - time.time()) + 120, 1)  # outlive the token and the clock skew
    return bool(deps().redis.set(USED_JTI_KEY.format(jti=jti), "1", nx=True, ex=ttl))


@blueprint.get("/login")
def login() -> ResponseReturnValue:
    if not current_app.config.get(CONFIGURED_KEY):
        return message_page(503, "Browser login is not configured", NOT_CONFIGURED)
    token = request.args.get("token", "")
    verifier = current_app.extensions.get(flask_auth.EXTENSION_KEY)
    if not isinstance(verifier, TokenVerifier):
        return message_page(500, "Login failed", "token verification is not configured")
    try:
        claims = verifier.verify(f"Bearer {token}", "admin:read")
    except AuthError as exc:
        log.info("dashboard_login_refused", reason=exc.reason)
        return message_page(
            exc.status, "Login refused", f"{exc.description}; run `sheen-ops dashboard` again."
        )
    if not claims.token_id:
        log.info("dashboard_login_refused", reason="no_jti")
        return message_page(401, "Login refused", "a login token needs a jti claim (one-time use)")
    if not _burn(claims.token_id, claims.expires_at):
        log.info("dashboard_login_refused", reason="reused")
        return message_page(
            401,
            "Login refused",
            "this login link was already used; run `sheen-ops dashboard` again.",
        )
    session.clear()
    session.permanent = True
    session[flask_auth.SESSION_KEY] = flask_auth.session_from_claims(claims)
    session[CSRF_KEY] = secrets.token_urlsafe(32)
    log.info("dashboard_login", expires_in=claims.expires_at - int(time.time()))
    response = redirect("/", code=303)
    response.headers.update(no_store_headers())
    return response


@blueprint.post("/logout")
def logout() -> ResponseReturnValue:
    if flask_auth.session_claims() is not None and not csrf_ok():
        return message_page(
            403, "Logout refused", "the form's CSRF token does not match this session"
        )
    session.clear()
    log.info("dashboard_logout")
    return message_page(200, "Logged out", "Run `sheen-ops dashboard` to open the dashboard again.")
