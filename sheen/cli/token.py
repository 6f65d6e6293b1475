"""`sheen-ops token mint`: a short-lived admin token for development and tests."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from sheen.security.tokens import SCOPE_LEVELS, mint_token, parse_ttl
from sheen.settings import Environment, load_settings


@click.group()
def token() -> None:
    """Admin bearer tokens for the sidecar API."""


@token.command("mint")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    type=click.Choice(list(SCOPE_LEVELS)),
    help="Scope to grant (repeatable); higher scopes imply the lower ones.",
)
@click.option(
    "--ttl", default="15m", show_default=True, help="Lifetime: 900, 90s, 15m, 2h (max 24h)."
)
@click.option("--sub", default="sheen-ops", show_default=True, help="Who the token is for.")
@click.option(
    "--private-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM private key matching SHEEN_JWT_PUBLIC_KEY / the JWKS (not needed for HS256).",
)
@click.option("--kid", help="Key id to put in the header (JWKS setups).")
def mint(
    scopes: tuple[str, ...], ttl: str, sub: str, private_key: Path | None, kid: str | None
) -> None:
    """Print a signed token. Refused when SHEEN_ENV is production."""
    settings = load_settings()
    if settings.env is Environment.PRODUCTION:
        click.echo(
            "sheen-ops token mint: refused in production; use your identity provider", err=True
        )
        sys.exit(2)
    from sheen.sidecar.dev_secret import token_config

    try:
        lifetime = parse_ttl(ttl)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--ttl") from None
    config = token_config(settings)
    key = private_key.read_text() if private_key else None
    try:
        value = mint_token(config, sub=sub, scopes=scopes, ttl=lifetime, signing_key=key, kid=kid)
    except ValueError as exc:
        click.echo(f"sheen-ops token mint: {exc}", err=True)
        sys.exit(2)
    click.echo(value)
