"""Helpers for sidecar tests: an HS256 test config, tokens, and an app on the test services."""

from __future__ import annotations

from typing import Any

from sheen.security.tokens import TokenConfig, TokenVerifier, mint_token
from sheen.settings import Settings, load_settings

SECRET = "sidecar-test-secret-" + "x" * 40


def sidecar_settings(**overrides: Any) -> Settings:
    base = load_settings().model_dump()
    base.update(jwt_algorithms="HS256", jwt_secret=SECRET, jwt_public_key=None, jwt_jwks_file=None)
    base.update(overrides)
    return Settings(**base)


def token_config(settings: Settings) -> TokenConfig:
    return TokenConfig.from_settings(settings)


def token(settings: Settings, *scopes: str, ttl: str = "15m") -> str:
    return mint_token(token_config(settings), sub="test-operator", scopes=scopes, ttl=ttl)


def bearer(settings: Settings, *scopes: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(settings, *scopes)}"}


def clean_broker(services: Any) -> None:
    """Empty the broker's Redis (queues, dead letters): other tests leave letters there."""
    import redis

    redis.Redis.from_url(services.broker_url).flushdb()


def make_app(settings: Settings, **kwargs: Any) -> Any:
    from sheen.sidecar import create_app

    return create_app(settings, verifier=TokenVerifier(token_config(settings)), **kwargs)
