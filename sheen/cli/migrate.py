"""`sheen-ops migrate`: upgrade the schema to the latest Alembic revision."""

from __future__ import annotations

import click

from sheen.db.migrate import downgrade, upgrade
from sheen.deploy.checks import refuse_unsafe_start


@click.command()
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@click.option("--down", is_flag=True, help="Downgrade to --revision instead of upgrading.")
def migrate(revision: str, down: bool) -> None:
    """Apply Alembic migrations (upgrade to head by default)."""
    url = refuse_unsafe_start("migrate").sqlalchemy_url
    if down:
        downgrade(url, revision)
    else:
        upgrade(url, revision)
    click.echo(f"schema at {revision}")
