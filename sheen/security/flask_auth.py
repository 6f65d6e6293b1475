"""Flask glue for admin tokens: `init_app(app, verifier)` then `@require_scope("admin:read")`.

The verifier lives in `app.extensions["sheen_tokens"]` so tests and the sidecar
factory can swap it. On success the verified claims are in `flask.g.admin_claims`.

`SHEEN_SIDECAR_AUTH_DISABLED` (app.config key, must be the boolean True) skips
verification for requests whose remote address is loopback, for local debugging
only. Behind a reverse proxy on the same host every request looks like loopback:
never set the flag on a sidecar that a proxy exposes.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

import structlog
from flask import Flask, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue

from sheen.security.tokens import AdminClaims, AuthError, TokenVerifier, scope_satisfies

log = structlog.get_logger(__name__)

EXTENSION_KEY = "sheen_tokens"
AUTH_DISABLED_KEY = "SHEEN_SIDECAR_AUTH_DISABLED"
_View = TypeVar("_View", bound=Callable[..., ResponseReturnValue])


def init_app(app: Flask, verifier: TokenVerifier) -> None:
    """Register the verifier the `require_scope` views will use."""
    app.extensions[EXTENSION_KEY] = verifier


def _is_loopback(address: str | None) -> bool:
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool((mapped or ip).is_loopback)


def auth_disabled_for_request() -> bool:
    """True only if the app opted out explicitly AND the caller is on this machine."""
    return current_app.config.get(AUTH_DISABLED_KEY) is True and _is_loopback(request.remote_addr)


def _error(status: int, error: str, detail: str, challenge: str | None) -> ResponseReturnValue:
    response = jsonify({"error": error, "detail": detail})
    response.status_code = status
    if challenge:
        response.headers["WWW-Authenticate"] = challenge
    response.headers["Cache-Control"] = "no-store"
    return response


def check_request(required_scope: str) -> AdminClaims | ResponseReturnValue:
    """Verify the current request; return the claims or the error response to send."""
    if auth_disabled_for_request():
        log.warning("auth_disabled_request", required_scope=required_scope)
        return AdminClaims(
            sub="local-auth-disabled",
            scopes=frozenset({required_scope}),
            issuer="local",
            audience="local",
            issued_at=0,
            expires_at=0,
        )
    verifier = current_app.extensions.get(EXTENSION_KEY)
    if not isinstance(verifier, TokenVerifier):
        log.error("auth_not_configured")
        return _error(500, "server_error", "token verification is not configured", None)
    try:
        return verifier.verify(request.headers.get("Authorization"), required_scope)
    except AuthError as exc:
        return _error(exc.status, exc.error, exc.description, exc.www_authenticate)


def require_scope(scope: str) -> Callable[[_View], _View]:
    """Decorate a view so it runs only for tokens holding `scope` (or a higher one)."""
    scope_satisfies((), scope)  # unknown scope names fail at import, not per request

    def decorator(view: _View) -> _View:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> ResponseReturnValue:
            outcome = check_request(scope)
            if not isinstance(outcome, AdminClaims):
                return outcome
            g.admin_claims = outcome
            return view(*args, **kwargs)

        return cast(_View, wrapper)

    return decorator
