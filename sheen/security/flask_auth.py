"""Flask glue for admin tokens: `init_app(app, verifier)` then `@require_scope("admin:read")`.

The verifier lives in `app.extensions["sheen_tokens"]` so tests and the sidecar
factory can swap it. On success the verified claims are in `flask.g.admin_claims`.

Browser sessions: views that opt in with `require_scope(scope, session=True)` (the
dashboard page only; the API keeps bearer tokens) also accept the signed session
cookie the sidecar's login view sets from a verified token (`session_from_claims`):
it carries the token's subject, its verified admin scopes and its expiry, nothing else.

`SHEEN_SIDECAR_AUTH_DISABLED` (app.config key, must be the boolean True) skips
verification for requests whose remote address is loopback, for local debugging
only. Behind a reverse proxy on the same host every request looks like loopback:
never set the flag on a sidecar that a proxy exposes.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

import structlog
from flask import Flask, current_app, g, jsonify, request, session
from flask.typing import ResponseReturnValue

from sheen.security.tokens import (
    SCOPE_LEVELS,
    AdminClaims,
    AuthError,
    InsufficientScope,
    TokenVerifier,
    scope_satisfies,
)

log = structlog.get_logger(__name__)

EXTENSION_KEY = "sheen_tokens"
AUTH_DISABLED_KEY = "SHEEN_SIDECAR_AUTH_DISABLED"
SESSION_KEY = "admin"
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


def session_from_claims(claims: AdminClaims) -> dict[str, Any]:
    """What a browser session keeps of a verified token: subject, known scopes, expiry."""
    return {
        "sub": claims.sub,
        "scopes": sorted(s for s in claims.scopes if s in SCOPE_LEVELS),
        "iss": claims.issuer,
        "exp": claims.expires_at,
    }


def session_claims() -> AdminClaims | None:
    """The claims of the request's signed session cookie, if present and not expired."""
    data = session.get(SESSION_KEY)
    if not isinstance(data, dict):
        return None
    exp, sub, scopes = data.get("exp"), data.get("sub"), data.get("scopes")
    if not isinstance(exp, int) or exp <= time.time() or not isinstance(sub, str):
        return None
    if not isinstance(scopes, list) or not all(isinstance(x, str) for x in scopes):
        return None
    return AdminClaims(
        sub=sub,
        scopes=frozenset(scopes),
        issuer=str(data.get("iss", "")),
        audience="session",
        issued_at=0,
        expires_at=exp,
    )


def check_request(
    required_scope: str, *, allow_session: bool = False
) -> AdminClaims | ResponseReturnValue:
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
    header = request.headers.get("Authorization")
    if allow_session and not header:
        claims = session_claims()
        if claims is not None:
            if not claims.has_scope(required_scope):
                exc = InsufficientScope(required_scope)
                return _error(exc.status, exc.error, exc.description, None)
            return claims
    try:
        return verifier.verify(header, required_scope)
    except AuthError as exc:
        return _error(exc.status, exc.error, exc.description, exc.www_authenticate)


def require_scope(scope: str, *, session: bool = False) -> Callable[[_View], _View]:
    """Decorate a view so it runs only for tokens holding `scope` (or a higher one).

    `session=True` also accepts the browser session cookie (dashboard views only).
    """
    scope_satisfies((), scope)  # unknown scope names fail at import, not per request

    def decorator(view: _View) -> _View:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> ResponseReturnValue:
            outcome = check_request(scope, allow_session=session)
            if not isinstance(outcome, AdminClaims):
                return outcome
            g.admin_claims = outcome
            return view(*args, **kwargs)

        return cast(_View, wrapper)

    return decorator
