"""Admin token verification: the attack matrix, the HTTP answers and the Flask glue."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from flask import Flask, g

from sheen.security.flask_auth import init_app, require_scope
from sheen.security.tokens import (
    AdminClaims,
    AuthError,
    InsufficientScope,
    InvalidToken,
    MissingToken,
    TokenConfig,
    TokenConfigError,
    TokenVerifier,
    mint_token,
    parse_ttl,
)

AUD = "sheen-admin"
ISS = "https://id.sheenapps.test/"
SECRET = "dev-secret-that-is-long-enough-for-hs256!"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _raw_token(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    return ".".join(
        [_b64(json.dumps(header).encode()), _b64(json.dumps(payload).encode()), _b64(signature)]
    )


def _claims(**overrides: Any) -> dict[str, Any]:
    now = math.ceil(time.time())
    claims: dict[str, Any] = {
        "sub": "ops-user-1",
        "aud": AUD,
        "iss": ISS,
        "iat": now,
        "exp": now + 600,
        "scope": "admin:read",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _pem(public_key: Any) -> str:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ed_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def rsa_verifier(rsa_key: rsa.RSAPrivateKey) -> TokenVerifier:
    config = TokenConfig.from_values(
        algorithms="RS256",
        public_key=_pem(rsa_key.public_key()),
        audience=AUD,
        issuer=ISS,
        environment="production",
    )
    return TokenVerifier(config)


@pytest.fixture(scope="module")
def jwks_verifier(
    rsa_key: rsa.RSAPrivateKey,
    ed_key: ed25519.Ed25519PrivateKey,
    tmp_path_factory: pytest.TempPathFactory,
) -> TokenVerifier:
    old = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    new = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(ed_key.public_key()))
    path = tmp_path_factory.mktemp("jwks") / "jwks.json"
    path.write_text(json.dumps({"keys": [{**old, "kid": "2024-old"}, {**new, "kid": "2025-new"}]}))
    config = TokenConfig.from_values(
        algorithms="RS256,EdDSA", jwks_file=path, audience=AUD, issuer=ISS, environment="production"
    )
    return TokenVerifier(config)


def _rs(rsa_key: rsa.RSAPrivateKey, headers: dict[str, Any] | None = None, **claims: Any) -> str:
    return jwt.encode(_claims(**claims), rsa_key, algorithm="RS256", headers=headers)


def _refusal(verifier: TokenVerifier, token: str, scope: str = "admin:read") -> AuthError:
    with pytest.raises(AuthError) as info:
        verifier.verify(f"Bearer {token}", scope)
    error = info.value
    assert token not in str(error) and token not in error.www_authenticate
    return error


# --- scopes -----------------------------------------------------------------------------


def test_valid_token_returns_claims(rsa_verifier: TokenVerifier, rsa_key: Any) -> None:
    """A correctly signed token with the needed scope yields its subject and scopes."""
    claims = rsa_verifier.verify(f"Bearer {_rs(rsa_key)}", "admin:read")
    assert isinstance(claims, AdminClaims)
    assert claims.sub == "ops-user-1" and claims.scopes == frozenset({"admin:read"})


def test_missing_scope_is_403(rsa_verifier: TokenVerifier, rsa_key: Any) -> None:
    """A valid token with no scope claim is refused with 403 insufficient_scope."""
    error = _refusal(rsa_verifier, _rs(rsa_key, scope=None))
    assert isinstance(error, InsufficientScope) and error.status == 403
    assert error.www_authenticate == 'Bearer error="insufficient_scope", scope="admin:read"'


def test_lower_scope_is_403(rsa_verifier: TokenVerifier, rsa_key: Any) -> None:
    """admin:read does not satisfy admin:write."""
    error = _refusal(rsa_verifier, _rs(rsa_key, scope="admin:read"), "admin:write")
    assert error.status == 403
    assert error.www_authenticate == 'Bearer error="insufficient_scope", scope="admin:write"'


@pytest.mark.parametrize("granted", ["admin:write", "admin:breakglass", "admin:super"])
def test_higher_scope_satisfies_lower(
    rsa_verifier: TokenVerifier, rsa_key: Any, granted: str
) -> None:
    """Any scope above admin:write in the hierarchy satisfies admin:write."""
    claims = rsa_verifier.verify(f"Bearer {_rs(rsa_key, scope=granted)}", "admin:write")
    assert granted in claims.scopes


def test_scp_list_form_is_read(rsa_verifier: TokenVerifier, rsa_key: Any) -> None:
    """Scopes given as an `scp` list count like a space-separated `scope` string."""
    token = _rs(rsa_key, scope=None, scp=["profile", "admin:breakglass"])
    assert rsa_verifier.verify(f"Bearer {token}", "admin:write").sub == "ops-user-1"


def test_malformed_scope_claim_is_401(rsa_verifier: TokenVerifier, rsa_key: Any) -> None:
    """A scope claim that is neither a string nor a list of strings is an invalid token."""
    assert _refusal(rsa_verifier, _rs(rsa_key, scope={"admin:super": True})).status == 401


# --- registered claims --------------------------------------------------------------------


@pytest.mark.parametrize("aud", ["other-service", AUD + "x", AUD[:-1], AUD.upper()])
def test_wrong_audience_is_401(rsa_verifier: TokenVerifier, rsa_key: Any, aud: str) -> None:
    """The audience must match exactly: no prefix, suffix or case-insensitive match."""
    error = _refusal(rsa_verifier, _rs(rsa_key, aud=aud))
    assert error.status == 401 and error.reason == "audience"


@pytest.mark.parametrize("iss", ["https://evil.test/", ISS + "x", ISS[:-1]])
def test_wrong_issuer_is_401(rsa_verifier: TokenVerifier, rsa_key: Any, iss: str) -> None:
    """The issuer must match exactly, so issuer+'x' and issuer minus a char are refused."""
    error = _refusal(rsa_verifier, _rs(rsa_key, iss=iss))
    assert error.reason == "issuer"
    assert error.www_authenticate == (
        'Bearer error="invalid_token", error_description="token issuer does not match"'
    )


def test_expired_59s_ago_is_accepted(rsa_verifier: TokenVerifier, rsa_key: Any) -> None:
    """A token expired 59 s ago is still inside the 60 s leeway."""
    now = math.ceil(time.time())
    assert rsa_verifier.verify(f"Bearer {_rs(rsa_key, exp=now - 59, iat=now - 600)}", "admin:read")


def test_expired_61s_ago_is_refused(rsa_verifier: TokenVerifier, rsa_key: Any) -> None:
    """A token expired 61 s ago is past the leeway."""
    now = math.floor(time.time())
    assert _refusal(rsa_verifier, _rs(rsa_key, exp=now - 61, iat=now - 600)).reason == "expired"


def test_iat_59s_in_future_is_accepted(rsa_verifier: TokenVerifier, rsa_key: Any) -> None:
    """Clock skew of 59 s on iat is tolerated."""
    now = math.floor(time.time())
    assert rsa_verifier.verify(f"Bearer {_rs(rsa_key, iat=now + 59)}", "admin:read")


def test_iat_61s_in_future_is_refused(rsa_verifier: TokenVerifier, rsa_key: Any) -> None:
    """A token issued 61 s in the future is not valid yet."""
    now = math.ceil(time.time())
    assert _refusal(rsa_verifier, _rs(rsa_key, iat=now + 61)).reason == "not_yet_valid"


def test_iat_as_string_is_refused(rsa_verifier: TokenVerifier, rsa_key: Any) -> None:
    """Numeric-string times (which PyJWT would coerce) are refused."""
    assert _refusal(rsa_verifier, _rs(rsa_key, iat=str(int(time.time())))).reason == "claim_type"


@pytest.mark.parametrize("claim", ["exp", "iat", "sub", "aud", "iss"])
def test_missing_required_claim_is_401(
    rsa_verifier: TokenVerifier, rsa_key: Any, claim: str
) -> None:
    """Each of exp, iat, sub, aud and iss is required."""
    error = _refusal(rsa_verifier, _rs(rsa_key, **{claim: None}))
    assert error.status == 401 and error.reason == "missing_claim"
    assert error.description == f"token is missing the {claim} claim"


# --- algorithms, keys and headers ----------------------------------------------------------


def test_alg_none_is_refused(rsa_verifier: TokenVerifier) -> None:
    """An unsigned token (alg none) is refused."""
    token = _raw_token({"alg": "none", "typ": "JWT"}, _claims(scope="admin:super"))
    assert _refusal(rsa_verifier, token).reason == "algorithm"


def test_hs256_signed_with_rsa_public_key_is_refused(
    rsa_verifier: TokenVerifier, rsa_key: Any
) -> None:
    """The classic key-confusion forgery (HMAC keyed with the public PEM) is refused."""
    pem = _pem(rsa_key.public_key()).encode()
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64(json.dumps(_claims(scope="admin:super")).encode())
    signature = hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    error = _refusal(rsa_verifier, f"{header}.{payload}.{_b64(signature)}")
    assert error.reason == "algorithm" and error.status == 401


def test_tampered_payload_is_refused(rsa_verifier: TokenVerifier, rsa_key: Any) -> None:
    """Changing the payload after signing breaks the signature."""
    header, _, signature = _rs(rsa_key).split(".")
    forged = _b64(json.dumps(_claims(scope="admin:super")).encode())
    assert _refusal(rsa_verifier, f"{header}.{forged}.{signature}").reason == "signature"


@pytest.mark.parametrize(
    "value",
    [
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer not-a-jwt",
        "Bearer a.b",
        "Bearer !!!.???.***",
        "Bearer e30.e30.",
        "Bearer bm90IGpzb24.e30.",
        "Bearer W10.e30.",
        "Token abc.def.ghi",
    ],
)
def test_garbage_header_is_401(rsa_verifier: TokenVerifier, value: str) -> None:
    """Anything that is not `Bearer <compact JWT>` with a JSON header is an invalid token."""
    with pytest.raises(InvalidToken) as info:
        rsa_verifier.verify(value, "admin:read")
    assert info.value.status == 401 and info.value.error == "invalid_token"


def test_missing_header_has_no_error_code(rsa_verifier: TokenVerifier) -> None:
    """No credentials at all gets 401 with a bare Bearer challenge (RFC 6750 section 3.1)."""
    with pytest.raises(MissingToken) as info:
        rsa_verifier.verify(None, "admin:read")
    assert info.value.status == 401 and "error=" not in info.value.www_authenticate


def test_oversize_header_is_refused_before_decoding(
    rsa_verifier: TokenVerifier, rsa_key: Any
) -> None:
    """An Authorization header over 8 KiB is refused even if it holds a valid token."""
    token = _rs(rsa_key, pad="x" * 9000)
    assert _refusal(rsa_verifier, token).reason == "too_large"


def test_unknown_crit_header_is_refused(rsa_verifier: TokenVerifier, rsa_key: Any) -> None:
    """A critical header extension we do not implement makes the token invalid."""
    token = _rs(rsa_key, headers={"crit": ["exp-ext"], "exp-ext": 1})
    assert _refusal(rsa_verifier, token).reason == "crit"


@pytest.mark.parametrize(
    "extra",
    [
        {"jku": "https://evil.test/jwks.json"},
        {"x5u": "https://evil.test/cert.pem"},
        {"jwk": {"kty": "oct", "k": "AAAA"}},
    ],
)
def test_embedded_key_header_is_refused(
    rsa_verifier: TokenVerifier, rsa_key: Any, extra: dict[str, Any]
) -> None:
    """A token carrying or pointing at its own key (jwk/jku/x5u/x5c) is refused."""
    assert _refusal(rsa_verifier, _rs(rsa_key, headers=extra)).reason == "embedded_key"


def test_duplicate_alg_header_is_refused(rsa_verifier: TokenVerifier, rsa_key: Any) -> None:
    """A header with two `alg` members is refused rather than resolved either way."""
    good = _rs(rsa_key).split(".")
    header = _b64(b'{"alg":"none","alg":"RS256"}')
    assert _refusal(rsa_verifier, ".".join([header, *good[1:]])).reason == "malformed"


def test_jwks_selects_key_by_kid(jwks_verifier: TokenVerifier, ed_key: Any, rsa_key: Any) -> None:
    """During rotation both the old RSA and the new Ed25519 kid verify."""
    new = jwt.encode(_claims(), ed_key, algorithm="EdDSA", headers={"kid": "2025-new"})
    old = _rs(rsa_key, headers={"kid": "2024-old"})
    assert jwks_verifier.verify(f"Bearer {new}", "admin:read").kid == "2025-new"
    assert jwks_verifier.verify(f"Bearer {old}", "admin:read").kid == "2024-old"


@pytest.mark.parametrize("kid", ["2023-gone", "../../etc/passwd", "https://evil.test/k"])
def test_unknown_kid_is_refused(jwks_verifier: TokenVerifier, rsa_key: Any, kid: str) -> None:
    """A kid that names no configured key is refused; it is never a path or URL."""
    assert _refusal(jwks_verifier, _rs(rsa_key, headers={"kid": kid})).reason == "unknown_kid"


def test_kid_algorithm_mismatch_is_refused(jwks_verifier: TokenVerifier, ed_key: Any) -> None:
    """An EdDSA token pointing at the RSA kid is refused: keys are bound to algorithms."""
    token = jwt.encode(_claims(), ed_key, algorithm="EdDSA", headers={"kid": "2024-old"})
    assert _refusal(jwks_verifier, token).reason == "algorithm"


@pytest.mark.parametrize("reason_token", ["expired", "audience", "tampered", "none"])
def test_error_text_never_contains_token(
    rsa_verifier: TokenVerifier, rsa_key: Any, reason_token: str
) -> None:
    """No refusal message or challenge echoes the token or its payload."""
    now = math.floor(time.time())
    token = {
        "expired": _rs(rsa_key, exp=now - 3600, iat=now - 7200),
        "audience": _rs(rsa_key, aud="elsewhere"),
        "tampered": _rs(rsa_key)[:-4] + "AAAA",
        "none": _raw_token({"alg": "none"}, _claims()),
    }[reason_token]
    error = _refusal(rsa_verifier, token)
    for part in token.split("."):
        if part:
            assert part not in str(error) and part not in error.www_authenticate


# --- configuration and minting -------------------------------------------------------------


@pytest.mark.parametrize("env", ["staging", "production"])
def test_hs256_secret_refused_outside_development(env: str) -> None:
    """A shared HS256 secret is a development convenience only."""
    with pytest.raises(TokenConfigError):
        TokenConfig.from_values(
            algorithms="HS256", secret=SECRET, audience=AUD, issuer=ISS, environment=env
        )


def test_mixed_symmetric_and_asymmetric_algorithms_refused(rsa_key: Any) -> None:
    """HS256 next to RS256 would reopen key confusion, so the config refuses it."""
    with pytest.raises(TokenConfigError):
        TokenConfig.from_values(
            algorithms=["RS256", "HS256"],
            public_key=_pem(rsa_key.public_key()),
            audience=AUD,
            issuer=ISS,
            environment="development",
        )


@pytest.mark.parametrize("algorithms", ["none", "HS256,none", ""])
def test_none_or_empty_algorithm_list_refused(algorithms: str) -> None:
    """`none` can never be configured, and an empty list is an error."""
    with pytest.raises(TokenConfigError):
        TokenConfig.from_values(
            algorithms=algorithms,
            secret=SECRET,
            audience=AUD,
            issuer=ISS,
            environment="development",
        )


def test_short_secret_refused() -> None:
    """An HS256 secret shorter than 32 bytes is refused."""
    with pytest.raises(TokenConfigError):
        TokenConfig.from_values(
            algorithms="HS256", secret="short", audience=AUD, issuer=ISS, environment="development"
        )


def test_public_key_path_and_private_key_refusal(rsa_key: Any, tmp_path: Path) -> None:
    """The public key may be a file path; a private key in its place is refused."""
    pub = tmp_path / "pub.pem"
    pub.write_text(_pem(rsa_key.public_key()))
    assert TokenConfig.from_values(
        algorithms="RS256", public_key=str(pub), audience=AUD, issuer=ISS, environment="production"
    ).keys
    private = rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    with pytest.raises(TokenConfigError):
        TokenConfig.from_values(
            algorithms="RS256",
            public_key=private,
            audience=AUD,
            issuer=ISS,
            environment="production",
        )


def test_mint_round_trip_in_development() -> None:
    """A token minted with the dev secret verifies and carries the requested scope."""
    config = TokenConfig.from_values(
        algorithms="HS256", secret=SECRET, audience=AUD, issuer=ISS, environment="development"
    )
    token = mint_token(config, sub="dev", scopes=["admin:write"], ttl="15m")
    claims = TokenVerifier(config).verify(f"Bearer {token}", "admin:read")
    assert claims.scopes == {"admin:write"} and claims.expires_at - claims.issued_at == 900


def test_mint_refused_in_production(rsa_verifier: TokenVerifier, rsa_key: Any) -> None:
    """Minting is refused when the environment is production, even with a private key."""
    with pytest.raises(TokenConfigError):
        mint_token(rsa_verifier.config, sub="x", scopes=["admin:read"], signing_key=rsa_key)


def test_parse_ttl_forms() -> None:
    """TTL strings accept plain seconds and s/m/h/d suffixes."""
    assert [parse_ttl(v).total_seconds() for v in ("90", "90s", "15m", "2h", "1d")] == [
        90,
        90,
        900,
        7200,
        86400,
    ]
    with pytest.raises(ValueError):
        parse_ttl("15 minutes")


# --- Flask integration ---------------------------------------------------------------------


@pytest.fixture()
def app(rsa_verifier: TokenVerifier) -> Flask:
    flask_app = Flask("sidecar-test")
    init_app(flask_app, rsa_verifier)

    @flask_app.post("/admin/write")
    @require_scope("admin:write")
    def write() -> dict[str, str]:
        return {"sub": g.admin_claims.sub}

    return flask_app


def test_flask_401_json_and_challenge(app: Flask) -> None:
    """A bad token gets 401 JSON {error, detail} and the WWW-Authenticate challenge."""
    response = app.test_client().post("/admin/write", headers={"Authorization": "Bearer x.y.z"})
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_token"
    assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')


def test_flask_403_and_success(app: Flask, rsa_key: Any) -> None:
    """A read token gets 403 on a write route; a write token passes with its claims in g."""
    client = app.test_client()
    low = client.post("/admin/write", headers={"Authorization": f"Bearer {_rs(rsa_key)}"})
    assert low.status_code == 403 and low.get_json()["error"] == "insufficient_scope"
    token = _rs(rsa_key, scope="admin:write")
    ok = client.post("/admin/write", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200 and ok.get_json() == {"sub": "ops-user-1"}


def test_flask_auth_disabled_only_for_loopback(app: Flask) -> None:
    """The disable flag lets loopback callers through and still challenges remote ones."""
    app.config["SHEEN_SIDECAR_AUTH_DISABLED"] = True
    client = app.test_client()
    assert client.post("/admin/write", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 200
    assert client.post("/admin/write", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200
    assert client.post("/admin/write", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 401
    app.config["SHEEN_SIDECAR_AUTH_DISABLED"] = "true"  # only the boolean True counts
    assert client.post("/admin/write", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 401
