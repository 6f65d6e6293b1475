"""`sheen-ops flower`: Flower on the fleet's broker, authenticated outside development.

Credentials come from FLOWER_BASIC_AUTH (`user:password[,user2:password2]`, from an
env file) or from a file (a Docker secret): FLOWER_BASIC_AUTH_FILE, default
/run/secrets/flower_basic_auth when it exists. Flower's OAuth options (FLOWER_AUTH,
FLOWER_AUTH_PROVIDER, FLOWER_OAUTH2_KEY/SECRET/REDIRECT_URI) count as authentication too.
Outside development the command refuses to start without one of them, or with
FLOWER_UNAUTHENTICATED_API on (one line, exit 2); Flower then answers 401 to every
UI and API request without credentials (its /metrics and /healthcheck stay open).
The process is replaced by `celery -A workers.app flower` (exec), so signals and
exit status are Flower's own.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path

import click

from sheen.deploy.checks import EXAMPLE_PASSWORDS, refuse_unsafe_start
from sheen.settings import Environment

SECRET_FILE = Path("/run/secrets/flower_basic_auth")
_PAIR = re.compile(r"^[^:,\s]+:[^,\s]{12,}$")
_OAUTH = ("FLOWER_AUTH", "FLOWER_AUTH_PROVIDER", "FLOWER_OAUTH2_KEY")
# Flower's default (1 s) makes a busy worker look absent and logs a warning per method.
DEFAULT_INSPECT_TIMEOUT_MS = "5000"


class FlowerAuthError(Exception):
    """Flower would start without authentication where it must not."""


def basic_auth(environ: Mapping[str, str]) -> str:
    """FLOWER_BASIC_AUTH, or the content of FLOWER_BASIC_AUTH_FILE / the Docker secret."""
    if environ.get("FLOWER_BASIC_AUTH"):
        return environ["FLOWER_BASIC_AUTH"].strip()
    path = (
        Path(environ["FLOWER_BASIC_AUTH_FILE"]) if environ.get("FLOWER_BASIC_AUTH_FILE") else None
    )
    if path is None and SECRET_FILE.exists():
        path = SECRET_FILE
    if path is None:
        return ""
    try:
        return ",".join(line.strip() for line in path.read_text().splitlines() if line.strip())
    except OSError as exc:
        raise FlowerAuthError(f"FLOWER_BASIC_AUTH_FILE={path}: {exc.strerror}") from None


def flower_env(environ: Mapping[str, str], env: Environment) -> dict[str, str]:
    """The environment Flower runs with; raise FlowerAuthError where it would be open."""
    out = {k: v for k, v in environ.items() if k != "FLOWER_BASIC_AUTH_FILE"}
    out.setdefault("FLOWER_INSPECT_TIMEOUT", DEFAULT_INSPECT_TIMEOUT_MS)
    auth = basic_auth(environ)
    if auth:
        bad = [pair for pair in auth.split(",") if not _PAIR.match(pair)]
        if bad:
            raise FlowerAuthError(
                "FLOWER_BASIC_AUTH must be user:password pairs (comma-separated), "
                "each password at least 12 characters"
            )
        out["FLOWER_BASIC_AUTH"] = auth
    if env is Environment.DEVELOPMENT:
        return out
    if environ.get("FLOWER_UNAUTHENTICATED_API", "").lower() in ("1", "true", "yes", "on"):
        raise FlowerAuthError(f"FLOWER_UNAUTHENTICATED_API is refused in {env.value}")
    if any(pair.partition(":")[2] in EXAMPLE_PASSWORDS for pair in auth.split(",")):
        raise FlowerAuthError("FLOWER_BASIC_AUTH carries an example password from .env.example")
    if not auth and not all(environ.get(name) for name in _OAUTH):
        raise FlowerAuthError(
            f"Flower needs authentication in {env.value}: set FLOWER_BASIC_AUTH "
            "(or FLOWER_BASIC_AUTH_FILE, a Docker secret) or Flower's OAuth options"
        )
    return out


@click.command()
@click.option("--port", default=5555, show_default=True, help="Port to listen on.")
@click.option("--address", default="127.0.0.1", show_default=True, help="Address to bind.")
def flower(port: int, address: str) -> None:
    """Start Flower (task inspection UI and API), authenticated outside development."""
    settings = refuse_unsafe_start("flower")
    try:
        env = flower_env(os.environ, settings.env)
    except FlowerAuthError as exc:
        click.echo(f"sheen-ops flower: {exc}", err=True)
        sys.exit(2)
    argv = [
        sys.executable, "-m", "celery", "-A", "workers.app", "flower",
        f"--port={port}", f"--address={address}",
    ]  # fmt: skip
    os.execve(sys.executable, argv, env)  # noqa: S606 (fixed argv, same interpreter)
