"""Admin bearer tokens: verification for the sidecar API, minting for development.

Everything that decides trust comes from configuration, never from the token: the
algorithm list is pinned, `kid` only chooses among keys we loaded, and a key is
bound to the algorithms its type supports (an RSA key never verifies HS256, a
secret never verifies RS256). PyJWT does the signature and registered-claim checks;
we add the header policy (`crit`, embedded keys), the size cap and scope rules.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jwt
import structlog

from sheen.errors import SheenError
from sheen.security.token_config import (
    ASYMMETRIC_ALGORITHMS,
    DEVELOPMENT_ENVIRONMENTS,
    SYMMETRIC_ALGORITHMS,
    TokenConfig,
    TokenConfigError,
    VerificationKey,
    load_jwks,
)

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "SCOPE_LEVELS",
    "SYMMETRIC_ALGORITHMS",
    "AdminClaims",
    "AuthError",
    "InsufficientScope",
    "InvalidToken",
    "MissingToken",
    "TokenConfig",
    "TokenConfigError",
    "TokenVerifier",
    "VerificationKey",
    "load_jwks",
    "mint_token",
    "parse_ttl",
    "scope_satisfies",
]

log = structlog.get_logger(__name__)

SCOPE_LEVELS: Mapping[str, int] = {
    "admin:read": 1,
    "admin:write": 2,
    "admin:breakglass": 3,
    "admin:super": 4,
}
# Minting is for development and tests; staging may use it with its own keys.
MINT_ENVIRONMENTS = DEVELOPMENT_ENVIRONMENTS | {"staging"}
REQUIRED_CLAIMS = ("exp", "iat", "sub", "aud", "iss")
MAX_AUTHORIZATION_BYTES = 8 * 1024
MAX_MINT_TTL = timedelta(hours=24)
# Header parameters that carry or locate keys: we only trust configured keys.
_KEY_HEADERS = frozenset({"jwk", "jku", "x5u", "x5c"})
_JWT_SHAPE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")
_TTL = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_TTL_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class AuthError(SheenError):
    """A request failed authentication or authorisation; carries the HTTP answer."""

    status = 401
    error = "invalid_token"

    def __init__(self, description: str, reason: str) -> None:
        self.description = description
        self.reason = reason
        super().__init__(description)

    @property
    def www_authenticate(self) -> str:
        return f'Bearer error="{self.error}", error_description="{self.description}"'


class InvalidToken(AuthError):
    """No usable token: missing, malformed, badly signed, expired or for someone else."""


class MissingToken(InvalidToken):
    """No credentials at all: RFC 6750 says to answer without an error code."""

    @property
    def www_authenticate(self) -> str:
        return 'Bearer realm="sheen-admin"'


class InsufficientScope(AuthError):
    """A valid token whose scopes do not reach the required one."""

    status = 403
    error = "insufficient_scope"

    def __init__(self, required_scope: str) -> None:
        self.required_scope = required_scope
        super().__init__(f"token lacks scope {required_scope}", "insufficient_scope")

    @property
    def www_authenticate(self) -> str:
        return f'Bearer error="insufficient_scope", scope="{self.required_scope}"'


@dataclass(frozen=True)
class AdminClaims:
    """What a verified token says; the raw token is deliberately not kept."""

    sub: str
    scopes: frozenset[str]
    issuer: str
    audience: str
    issued_at: int
    expires_at: int
    kid: str | None = None
    token_id: str | None = None

    def has_scope(self, required: str) -> bool:
        return scope_satisfies(self.scopes, required)


def scope_level(scope: str) -> int:
    """The rank of a known admin scope; ValueError for anything else (a programming error)."""
    try:
        return SCOPE_LEVELS[scope]
    except KeyError:
        raise ValueError(f"unknown admin scope: {scope}") from None


def scope_satisfies(granted: Iterable[str], required: str) -> bool:
    """A higher admin scope implies the lower ones; unknown granted scopes count for nothing."""
    needed = scope_level(required)
    return any(SCOPE_LEVELS.get(s, 0) >= needed for s in granted)


def _refuse(description: str, reason: str) -> InvalidToken:
    log.info("token_refused", reason=reason)
    return InvalidToken(description, reason)


def _bearer_token(header: str | None) -> str:
    if header is None or not header.strip():
        log.info("token_refused", reason="missing")
        raise MissingToken("no bearer token was sent", "missing")
    if (
        len(header) > MAX_AUTHORIZATION_BYTES
        or len(header.encode("utf-8", "replace")) > MAX_AUTHORIZATION_BYTES
    ):
        raise _refuse("authorization header is too large", "too_large")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise _refuse("authorization scheme is not Bearer", "not_bearer")
    token = token.strip()
    if not _JWT_SHAPE.match(token):
        raise _refuse("bearer token is not a compact JWT", "malformed")
    return token


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("duplicate header parameter")
    return dict(pairs)


def _parse_header(segment: str) -> dict[str, Any]:
    """Decode the JOSE header ourselves: duplicate parameters (two `alg`s) are refused."""
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        header = json.loads(raw, object_pairs_hook=_no_duplicates)
    except (ValueError, TypeError):
        raise _refuse("token header is not valid", "malformed") from None
    if not isinstance(header, dict):
        raise _refuse("token header is not valid", "malformed")
    return header


_DECODE_ERRORS: tuple[tuple[type[Exception], str, str], ...] = (
    (jwt.ExpiredSignatureError, "token has expired", "expired"),
    (jwt.ImmatureSignatureError, "token is not valid yet", "not_yet_valid"),
    (jwt.InvalidAudienceError, "token audience does not match", "audience"),
    (jwt.InvalidIssuerError, "token issuer does not match", "issuer"),
    (jwt.InvalidSignatureError, "token signature is not valid", "signature"),
    (jwt.InvalidAlgorithmError, "token algorithm is not allowed", "algorithm"),
    (jwt.InvalidKeyError, "token key is not usable", "key"),
    (jwt.DecodeError, "token could not be decoded", "malformed"),
)


class TokenVerifier:
    """Verify `Authorization: Bearer ...` headers against one TokenConfig."""

    def __init__(self, config: TokenConfig) -> None:
        self.config = config
        self._by_kid = {k.kid: k for k in config.keys}

    def _header(self, token: str) -> dict[str, Any]:
        header = _parse_header(token.split(".", 1)[0])
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.config.algorithms:
            raise _refuse("token algorithm is not allowed", "algorithm")
        if "crit" in header:
            raise _refuse("token has critical header extensions we do not support", "crit")
        if _KEY_HEADERS & header.keys():
            raise _refuse("token header carries key material or key URLs", "embedded_key")
        if "kid" in header and not isinstance(header["kid"], str):
            raise _refuse("token key id is not valid", "kid")
        return header

    def _key_for(self, header: dict[str, Any]) -> VerificationKey:
        kid = header.get("kid")
        key = self._by_kid.get(kid) if kid is not None else None
        if key is None and None in self._by_kid:
            key = self._by_kid[None]  # a single PEM key or secret has no kid namespace
        if key is None and kid is None and len(self._by_kid) == 1:
            key = next(iter(self._by_kid.values()))
        if key is None:
            raise _refuse("token key id is not recognised", "unknown_kid")
        if header["alg"] not in key.algorithms:
            raise _refuse("token algorithm does not match the key", "algorithm")
        return key

    def _decode(self, token: str, header: dict[str, Any], key: VerificationKey) -> dict[str, Any]:
        cfg = self.config
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[header["alg"]],
                audience=cfg.audience,
                issuer=cfg.issuer,
                leeway=cfg.leeway,
                options={"require": list(REQUIRED_CLAIMS), "enforce_minimum_key_length": True},
            )
        except jwt.MissingRequiredClaimError as exc:
            claim = exc.claim if exc.claim in REQUIRED_CLAIMS else "required"
            raise _refuse(f"token is missing the {claim} claim", "missing_claim") from None
        except jwt.PyJWTError as exc:
            for kind, text, reason in _DECODE_ERRORS:
                if isinstance(exc, kind):
                    raise _refuse(text, reason) from None
            raise _refuse("token is not valid", "invalid") from None
        return claims

    def _check_claims(self, claims: dict[str, Any]) -> None:
        """Re-check times ourselves: PyJWT accepts numeric strings and may change defaults."""
        now = time.time()
        for name in ("exp", "iat"):
            value = claims[name]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise _refuse(f"token {name} claim is not a number", "claim_type")
        if claims["exp"] <= now - self.config.leeway:
            raise _refuse("token has expired", "expired")
        if claims["iat"] > now + self.config.leeway:
            raise _refuse("token is not valid yet", "not_yet_valid")
        if not isinstance(claims["sub"], str) or not claims["sub"]:
            raise _refuse("token sub claim is not a non-empty string", "claim_type")

    @staticmethod
    def _scopes(claims: dict[str, Any]) -> frozenset[str]:
        scopes: set[str] = set()
        for name in ("scope", "scp"):
            value = claims.get(name)
            if value is None:
                continue
            if isinstance(value, str):
                scopes.update(value.split())
            elif isinstance(value, list) and all(isinstance(s, str) for s in value):
                scopes.update(value)
            else:
                raise _refuse(f"token {name} claim is malformed", "claim_type")
        return frozenset(scopes)

    def verify(self, authorization_header: str | None, required_scope: str) -> AdminClaims:
        """Return the claims of a valid token holding `required_scope`, else raise AuthError."""
        scope_level(required_scope)
        token = _bearer_token(authorization_header)
        header = self._header(token)
        key = self._key_for(header)
        claims = self._decode(token, header, key)
        self._check_claims(claims)
        scopes = self._scopes(claims)
        if not scope_satisfies(scopes, required_scope):
            log.info("token_refused", reason="insufficient_scope", required_scope=required_scope)
            raise InsufficientScope(required_scope)
        aud = claims["aud"]
        return AdminClaims(
            sub=claims["sub"],
            scopes=scopes,
            issuer=claims["iss"],
            audience=aud if isinstance(aud, str) else self.config.audience,
            issued_at=int(claims["iat"]),
            expires_at=int(claims["exp"]),
            kid=header.get("kid"),
            token_id=claims.get("jti") if isinstance(claims.get("jti"), str) else None,
        )


def parse_ttl(text: str | int | timedelta) -> timedelta:
    """'15m', '2h', '900' or '900s' -> timedelta (for `sheen-ops token mint --ttl`)."""
    if isinstance(text, timedelta):
        return text
    if isinstance(text, int):
        return timedelta(seconds=text)
    match = _TTL.match(text)
    if not match:
        raise ValueError("ttl must look like 900, 90s, 15m, 2h or 1d")
    return timedelta(seconds=int(match.group(1)) * _TTL_UNITS[match.group(2)])


def mint_token(
    config: TokenConfig,
    *,
    sub: str,
    scopes: Iterable[str],
    ttl: str | int | timedelta = timedelta(minutes=15),
    signing_key: Any = None,
    algorithm: str | None = None,
    kid: str | None = None,
    now: float | None = None,
) -> str:
    """Sign a short-lived admin token for development and tests; refused in production.

    With an HS256 config the configured secret signs; otherwise pass the private key
    (PEM text or a cryptography key) matching one configured public key.
    """
    if config.environment not in MINT_ENVIRONMENTS:
        raise TokenConfigError(f"minting tokens is not allowed in {config.environment}")
    scope_list = sorted(set(scopes))
    for scope in scope_list:
        scope_level(scope)
    lifetime = parse_ttl(ttl)
    if not timedelta(0) < lifetime <= MAX_MINT_TTL:
        raise ValueError("ttl must be positive and at most 24h")
    alg = algorithm or config.algorithms[0]
    if alg not in config.algorithms:
        raise ValueError(f"{alg} is not one of the configured algorithms")
    if signing_key is None:
        secrets = [k.key for k in config.keys if isinstance(k.key, bytes)]
        if not secrets:
            raise ValueError("asymmetric configs need signing_key (the private key)")
        signing_key = secrets[0]
    issued = int(time.time() if now is None else now)
    payload = {
        "sub": sub,
        "scope": " ".join(scope_list),
        "aud": config.audience,
        "iss": config.issuer,
        "iat": issued,
        "exp": issued + int(lifetime.total_seconds()),
        "jti": str(uuid.uuid4()),
    }
    headers = {"kid": kid} if kid else None
    return jwt.encode(payload, signing_key, algorithm=alg, headers=headers)
