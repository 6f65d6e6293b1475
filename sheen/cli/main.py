"""`sheen-ops`: the operator's command line. Thin wrappers over services.

Exit status: 0 done, 1 the operation failed (including a service that does not answer:
one line naming it, its URL without password and the setting), 2 bad usage or
configuration.
"""

from __future__ import annotations

import sys

import click

from sheen.errors import ConfigError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sheen-fleet")
def cli() -> None:
    """Operate the SheenApps worker fleet: schema, jobs, dead letters, tokens."""


def _register() -> None:
    from sheen.cli import (
        artifacts,
        audit,
        dashboard,
        dev,
        dlq,
        jobs,
        migrate,
        notifications,
        sidecar,
        token,
        verify,
    )

    cli.add_command(migrate.migrate)
    cli.add_command(jobs.jobs)
    cli.add_command(dev.dev)
    cli.add_command(sidecar.sidecar)
    cli.add_command(token.token)
    cli.add_command(dlq.dlq)
    cli.add_command(notifications.notifications)
    cli.add_command(dashboard.dashboard)
    from sheen.deploy.flower import flower

    cli.add_command(flower)
    cli.add_command(verify.manifest)
    cli.add_command(verify.verify)
    cli.add_command(artifacts.artifacts)
    cli.add_command(audit.audit)
    from sheen.cli.analytics import analytics

    cli.add_command(analytics)


def main() -> None:
    _register()
    try:
        cli.main(standalone_mode=True)
    except ConfigError as exc:
        click.echo(f"sheen-ops: configuration error: {exc}", err=True)
        sys.exit(2)
    except Exception as exc:
        _unreachable(exc)
        raise


def _unreachable(exc: BaseException) -> None:
    """Exit with one line if `exc` is an unreachable PostgreSQL, Redis or broker."""
    from sheen.reachability import EXIT_STATUS, explain
    from sheen.settings import load_settings

    try:
        found = explain(exc, load_settings())
    except ConfigError:
        return
    if found is not None:
        click.echo(f"sheen-ops: {found.line()}", err=True)
        sys.exit(EXIT_STATUS)
