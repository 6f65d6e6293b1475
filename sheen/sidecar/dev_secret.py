"""A development-only HS256 secret kept in the state folder, shared by `make run` and
`sheen-ops token mint` so a developer can get a token without configuring keys."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from sheen.security.token_config import DEVELOPMENT_ENVIRONMENTS, TokenConfig
from sheen.settings import Settings

FILE_NAME = "dev-jwt-secret"
SESSION_FILE_NAME = "dev-session-secret"


def dev_secret(state_dir: Path, file_name: str = FILE_NAME) -> str:
    """Read the secret, creating it (mode 0600) on first use."""
    path = state_dir / file_name
    if path.exists():
        return path.read_text().strip()
    state_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(value + "\n")
    return value


def has_configured_key(settings: Settings) -> bool:
    return bool(settings.jwt_public_key or settings.jwt_jwks_file or settings.jwt_secret)


def token_config(settings: Settings) -> TokenConfig:
    """The configured keys; in development without any, the state folder's dev secret."""
    if not has_configured_key(settings) and settings.env.value in DEVELOPMENT_ENVIRONMENTS:
        return TokenConfig.from_values(
            algorithms="HS256",
            secret=dev_secret(settings.state_dir),
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            environment=settings.env.value,
        )
    return TokenConfig.from_settings(settings)
