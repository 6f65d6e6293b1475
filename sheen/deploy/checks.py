"""Start-up refusals: a staging or production process will not run on development defaults.

Every fleet entry point (worker, beat, sidecar, Flower, `sheen-ops migrate|dev`) calls
`refuse_unsafe_start()` before it touches a broker or a database. In development and CI
nothing is refused. In staging and production the first problem found is printed as one
line naming the setting, and the process exits with status 2.

What is refused (each has a test with a real process):
- SHEEN_JWT_SECRET: an HS256 secret is the development mechanism (`make run` keeps one in
  the state folder); admin tokens outside development are checked with a public key.
- a Redis URL (SHEEN_BROKER_URL, SHEEN_REDIS_URL) without a password;
- a Redis or PostgreSQL password that is one of the placeholders of `.env.example` or the
  development default `sheen` (Flower's own credentials: sheen.deploy.flower).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn
from urllib.parse import parse_qs, unquote, urlsplit

from sheen.errors import ConfigError
from sheen.settings import Settings, load_settings

# The placeholders shipped in .env.example (tests/unit/test_deploy_checks.py keeps this
# list equal to the file) plus the password the compose file used to carry.
EXAMPLE_PASSWORDS = frozenset(
    {
        "change-me-postgres",
        "change-me-redis",
        "change-me-flower",
        "sheen",
    }
)
DEV_SECRET_FILE = "dev-jwt-secret"  # noqa: S105  (a file name: sheen.sidecar.dev_secret.FILE_NAME)


def url_password(url: str) -> str:
    """The password a Redis or PostgreSQL URL carries (userinfo or `?password=`), or ''."""
    parts = urlsplit(url)
    if parts.password:
        return unquote(parts.password)
    return parse_qs(parts.query).get("password", [""])[0]


def _is_redis(url: str) -> bool:
    return urlsplit(url).scheme in ("redis", "rediss", "unix")


def _dev_secret(state_dir: Path) -> str | None:
    try:
        return (state_dir / DEV_SECRET_FILE).read_text().strip() or None
    except OSError:
        return None


def unsafe_defaults(settings: Settings) -> list[str]:
    """Every development default that must not reach staging or production, as messages."""
    if not settings.is_production_like:
        return []
    env = settings.env.value
    problems: list[str] = []
    if settings.jwt_secret is not None:
        secret = settings.jwt_secret.get_secret_value()
        what = "the development secret" if secret == _dev_secret(settings.state_dir) else "set"
        problems.append(
            f"SHEEN_JWT_SECRET is {what}: HS256 secrets are for development only, not {env}; "
            "set SHEEN_JWT_PUBLIC_KEY or SHEEN_JWT_JWKS_FILE"
        )
    for name, url in (
        ("SHEEN_BROKER_URL", settings.broker_url),
        ("SHEEN_REDIS_URL", settings.redis_url),
    ):
        if not _is_redis(url):
            continue
        password = url_password(url)
        if not password:
            problems.append(f"{name} has no Redis password; {env} needs requirepass or an ACL user")
        elif password in EXAMPLE_PASSWORDS:
            problems.append(f"{name} carries an example password from .env.example")
    if url_password(settings.database_url) in EXAMPLE_PASSWORDS:
        problems.append("SHEEN_DATABASE_URL carries an example password from .env.example")
    return problems


def refuse_unsafe_start(process: str, settings: Settings | None = None) -> Settings:
    """Return the settings, or print one line and exit 2 (bad setting or unsafe default)."""
    try:
        settings = settings or load_settings()
    except ConfigError as exc:
        _exit(f"sheen: configuration error: {exc}")
    problems = unsafe_defaults(settings)
    if problems:
        _exit(f"sheen: {process} refuses to start in {settings.env.value}: {problems[0]}")
    return settings


def _exit(line: str) -> NoReturn:
    print(line, file=sys.stderr)  # noqa: T201  (before logging is configured)
    sys.exit(2)
