"""Browser login: a one-time login URL becomes a signed, token-bound session cookie;
the page's POST needs its CSRF token; logout ends it; the API ignores the cookie."""

from __future__ import annotations

import re
import time

import pytest

from sheen.security.tokens import TokenConfig, mint_token
from sheen.settings import Environment
from sheen.sidecar.session import COOKIE_NAME
from tests.sidecar_support import clean_broker, make_app, sidecar_settings, token

SESSION_SECRET = "dashboard-session-secret-" + "y" * 20


@pytest.fixture
def settings(db, services):
    clean_broker(services)
    return sidecar_settings(sidecar_session_secret=SESSION_SECRET)


@pytest.fixture
def client(settings, celery_app):
    return make_app(settings).test_client()


def login(client, value: str):
    return client.get(f"/login?token={value}")


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def test_login_url_sets_a_strict_httponly_cookie_bound_to_the_token(client, settings):
    """Given a fresh token, /login answers 303 to / with a signed cookie expiring with it."""
    # Given
    value = token(settings, "admin:read", ttl="10m")
    # When
    response = login(client, value)
    # Then
    assert response.status_code == 303 and response.headers["Location"] == "/"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE_NAME}=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Secure" not in cookie  # development/ci: plain HTTP on loopback
    assert value not in cookie  # the token itself is never stored
    expires = re.search(r"Expires=([^;]+)", cookie)
    assert expires is not None
    from email.utils import parsedate_to_datetime

    left = parsedate_to_datetime(expires.group(1)).timestamp() - time.time()
    assert 540 < left <= 601
    page = client.get("/", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert 'id="degraded-banner"' in page.get_data(as_text=True)


def test_login_url_works_once(client, settings, celery_app):
    """Given a login URL already used, a second use is refused."""
    # Given
    value = token(settings, "admin:read")
    assert login(client, value).status_code == 303
    # When
    other = make_app(settings).test_client()
    again = login(other, value)
    # Then
    assert again.status_code == 401
    assert "already used" in again.get_data(as_text=True)


def test_bad_or_foreign_tokens_are_refused(client, settings):
    """Given a token from another issuer or a garbled one, /login refuses and sets no cookie."""
    # Given
    foreign_config = TokenConfig.from_values(
        algorithms="HS256", secret=settings.jwt_secret.get_secret_value(),
        audience=settings.jwt_audience, issuer="someone-else", environment="ci",
    )  # fmt: skip
    foreign = mint_token(foreign_config, sub="x", scopes=["admin:super"])
    # When
    responses = [login(client, foreign), login(client, "not-a-token"), client.get("/login")]
    # Then
    for response in responses:
        assert response.status_code == 401
        assert "Set-Cookie" not in response.headers


def test_the_api_ignores_the_session_cookie(client, settings):
    """Given a logged-in browser, /api/* still needs a bearer token."""
    # Given
    login(client, token(settings, "admin:super"))
    # When
    api = client.get("/api/jobs/overview")
    # Then
    assert api.status_code == 401


def test_session_carries_only_the_verified_scope(client, settings):
    """Given a read-only login, the page has no test-alert form and its POST is 403."""
    # Given
    login(client, token(settings, "admin:read"))
    page = client.get("/").get_data(as_text=True)
    # When
    post = client.post("/dashboard/test-alert", data={"csrf_token": csrf_of(page)})
    # Then
    assert 'id="test-alert-form"' not in page
    assert post.status_code == 403


def test_test_alert_form_needs_the_csrf_token(client, settings, celery_app):
    """Given a write session, the form POST enqueues only with the page's CSRF token."""
    # Given
    login(client, token(settings, "admin:write"))
    page = client.get("/").get_data(as_text=True)
    assert 'id="test-alert-form"' in page
    # When
    forged = client.post("/dashboard/test-alert", data={"csrf_token": "guess"})
    missing = client.post("/dashboard/test-alert")
    real = client.post("/dashboard/test-alert", data={"csrf_token": csrf_of(page)})
    # Then
    assert forged.status_code == 403 and missing.status_code == 403
    assert real.status_code == 303 and real.headers["Location"].startswith("/?notice=test-alert-")
    with celery_app.connection_for_write() as conn:
        assert conn.default_channel.client.llen("jobs") == 1


def test_logout_ends_the_session(client, settings):
    """Given a session, POST /logout with its CSRF token clears it: the page asks to log in."""
    # Given
    login(client, token(settings, "admin:read"))
    page = client.get("/").get_data(as_text=True)
    # When
    refused = client.post("/logout", data={"csrf_token": "wrong"})
    still_in = client.get("/").status_code
    out = client.post("/logout", data={"csrf_token": csrf_of(page)})
    after = client.get("/", headers={"Accept": "text/html"})
    # Then
    assert refused.status_code == 403 and still_in == 200
    assert out.status_code == 200
    assert after.status_code == 401 and "sheen-ops dashboard" in after.get_data(as_text=True)


def test_expired_session_is_refused(settings, celery_app):
    """Given a session whose token expired, the page asks to log in again."""
    # Given
    client = make_app(settings).test_client()
    login(client, token(settings, "admin:read", ttl="1s"))
    # When
    time.sleep(2.1)
    page = client.get("/", headers={"Accept": "text/html"})
    # Then
    assert page.status_code == 401


@pytest.fixture(scope="module")
def rsa_key():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return key, public.decode()


def production(settings, rsa_key, **overrides):
    """Production settings verifying RS256 tokens of the configured issuer's key."""
    return settings.model_copy(
        update={
            "env": Environment.PRODUCTION, "jwt_algorithms": "RS256", "jwt_secret": None,
            "jwt_public_key": rsa_key[1], **overrides,
        }
    )  # fmt: skip


def idp_token(settings, rsa_key, issuer: str | None = None) -> str:
    """A token as the identity provider would sign it (minting is refused in production)."""
    import jwt

    now = int(time.time())
    claims = {
        "sub": "oncall", "scope": "admin:read", "aud": settings.jwt_audience,
        "iss": issuer or settings.jwt_issuer, "iat": now, "exp": now + 600, "jti": f"j-{now}-{issuer}",
    }  # fmt: skip
    return jwt.encode(claims, rsa_key[0], algorithm="RS256")


def test_production_without_session_secret_refuses_browser_login(settings, rsa_key, celery_app):
    """Given production without SHEEN_SIDECAR_SESSION_SECRET, /login answers 503 naming it."""
    # Given
    prod = production(settings, rsa_key, sidecar_session_secret=None)
    client = make_app(prod).test_client()
    # When
    response = login(client, idp_token(prod, rsa_key))
    # Then
    assert response.status_code == 503
    assert "SHEEN_SIDECAR_SESSION_SECRET" in response.get_data(as_text=True)


def test_production_accepts_only_the_configured_issuer(settings, rsa_key, celery_app):
    """Given production, a login token of the configured issuer opens a Secure cookie; another
    issuer's token (even signed by the same key) and a development HS256 token are refused."""
    # Given
    prod = production(settings, rsa_key)
    client = make_app(prod).test_client()
    # When
    foreign = login(client, idp_token(prod, rsa_key, issuer="https://elsewhere.example"))
    dev = login(client, token(settings, "admin:read"))
    good = login(client, idp_token(prod, rsa_key))
    # Then
    assert foreign.status_code == 401 and dev.status_code == 401
    assert good.status_code == 303
    assert "Secure" in good.headers["Set-Cookie"]
