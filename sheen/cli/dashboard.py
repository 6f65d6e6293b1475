"""`sheen-ops dashboard`: a one-time login URL for the sidecar page, opened or printed.

Mints a short-lived admin token (like `sheen-ops token mint`; development and staging
keys only) and prints `http://<sidecar>/login?token=...`. The sidecar exchanges it once
for a session cookie that expires with the token. In production minting is refused:
pass `--token` with one from the identity provider.
"""

from __future__ import annotations

import sys
import webbrowser
from pathlib import Path
from urllib.parse import quote

import click

from sheen.security.tokens import mint_token, parse_ttl
from sheen.settings import Environment, Settings, load_settings

DEFAULT_TTL = "1h"


def sidecar_base(settings: Settings, url: str | None) -> str:
    if url:
        return url.rstrip("/")
    host = settings.sidecar_host
    host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 (display only)
    return f"http://{host}:{settings.sidecar_port}"


def login_url(base: str, token: str) -> str:
    return f"{base}/login?token={quote(token, safe='')}"


@click.command()
@click.option("--ttl", default=DEFAULT_TTL, show_default=True, help="Session lifetime (max 24h).")
@click.option(
    "--write", is_flag=True, help="Also grant admin:write (the page's test-alert button)."
)
@click.option("--url", help="The sidecar's base URL (default from SHEEN_SIDECAR_HOST/PORT).")
@click.option("--token", "given", help="Use this token (production: from your identity provider).")
@click.option(
    "--private-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM private key matching SHEEN_JWT_PUBLIC_KEY (not needed for HS256).",
)
@click.option("--open/--no-open", "open_browser", default=False, help="Open the default browser.")
def dashboard(
    ttl: str,
    write: bool,
    url: str | None,
    given: str | None,
    private_key: Path | None,
    open_browser: bool,
) -> None:
    """Print a one-time login URL for the sidecar dashboard (valid once, for --ttl)."""
    settings = load_settings()
    base = sidecar_base(settings, url)
    if given is None:
        if settings.env is Environment.PRODUCTION:
            click.echo(
                "sheen-ops dashboard: minting is refused in production; get a token from your "
                f"identity provider and run: sheen-ops dashboard --token <token> (or open "
                f"{base}/login?token=<token>)",
                err=True,
            )
            sys.exit(2)
        from sheen.sidecar.dev_secret import token_config

        try:
            lifetime = parse_ttl(ttl)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--ttl") from None
        scopes = ["admin:read", "admin:write"] if write else ["admin:read"]
        key = private_key.read_text() if private_key else None
        try:
            given = mint_token(
                token_config(settings), sub="sheen-ops-dashboard", scopes=scopes, ttl=lifetime,
                signing_key=key,
            )  # fmt: skip
        except ValueError as exc:
            click.echo(f"sheen-ops dashboard: {exc}", err=True)
            sys.exit(2)
    link = login_url(base, given)
    click.echo(link)
    click.echo(f"(valid once; the session ends when the token expires, {ttl})", err=True)
    if open_browser and not webbrowser.open(link):
        click.echo("sheen-ops dashboard: no browser found; open the URL above", err=True)
