"""`sheen-ops dev` (what `make run` calls): the fleet in the foreground."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from sheen.cli import dev_observability
from sheen.devserver import celery, supervised
from sheen.errors import SheenError


@click.command()
@click.option(
    "--state-dir",
    type=click.Path(path_type=Path),
    default=Path(".sheen"),
    show_default=True,
    help="Where embedded services keep their data.",
)
@click.option("--concurrency", default=2, show_default=True, help="Worker pool processes.")
def dev(state_dir: Path, concurrency: int) -> None:
    """Run embedded services (when no URL is set), migrate, then beat and a worker."""
    status = 0
    try:
        with supervised(state_dir) as sup:
            sup.start_services()
            sup.say("migrating schema")
            from sheen.db.migrate import upgrade
            from sheen.settings import parse_settings

            settings = parse_settings(sup.env)
            upgrade(settings.sqlalchemy_url)
            dev_observability.prepare(sup, settings)
            sup.spawn(
                "worker",
                celery(
                    "worker",
                    "--pool",
                    "prefork",
                    "-c",
                    str(concurrency),
                    "-E",
                    "-n",
                    "worker@%h",
                    "-Q",
                    "jobs",
                ),
            )
            sup.spawn("beat", celery("beat", "-s", str(state_dir / "celerybeat-schedule")))
            dev_observability.spawn(sup, settings)
            sup.say(
                "fleet up; Ctrl-C stops everything. In another terminal: .venv/bin/sheen-ops jobs list"
            )
            status = sup.wait()
    except SheenError as exc:
        click.echo(f"sheen-ops dev: {exc}", err=True)
        sys.exit(1)
    sys.exit(status)
