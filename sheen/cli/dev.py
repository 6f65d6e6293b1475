"""`sheen-ops dev` (what `make run` calls): the fleet in the foreground."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from sheen.cli import dev_observability
from sheen.deploy.checks import refuse_unsafe_start
from sheen.devserver import celery, supervised
from sheen.errors import SheenError


@click.group(invoke_without_command=True)
@click.option(
    "--state-dir",
    type=click.Path(path_type=Path),
    default=Path(".sheen"),
    show_default=True,
    help="Where embedded services keep their data.",
)
@click.option("--concurrency", default=2, show_default=True, help="Worker pool processes.")
@click.pass_context
def dev(ctx: click.Context, state_dir: Path, concurrency: int) -> None:
    """Run embedded services (when no URL is set), migrate, then beat and a worker.

    `sheen-ops dev seed` fills the database with demo data instead.
    """
    if ctx.invoked_subcommand is not None:
        return
    refuse_unsafe_start("sheen-ops dev")
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
            sup.say(
                "dashboard: .venv/bin/sheen-ops dashboard --open (one-time login URL); "
                "demo data: .venv/bin/sheen-ops dev seed"
            )
            status = sup.wait()
    except SheenError as exc:
        click.echo(f"sheen-ops dev: {exc}", err=True)
        sys.exit(1)
    sys.exit(status)


@dev.command("seed")
@click.option("--users", default=1000, show_default=True, type=click.IntRange(1, 10_000_000))
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
def seed(users: int, as_json: bool) -> None:
    """Demo users, balances, live and silent builds and old artifacts (development only)."""
    from sheen.db.engine import get_engine
    from sheen.services.demo_seed import seed_demo
    from sheen.settings import Environment, load_settings

    settings = load_settings()
    if settings.env not in (Environment.DEVELOPMENT, Environment.CI):
        click.echo(f"sheen-ops dev seed: refused in {settings.env.value}", err=True)
        sys.exit(2)
    counts = seed_demo(get_engine(settings), users)
    if as_json:
        from sheen.cli.output import emit_json

        emit_json(counts)
        return
    click.echo(
        "seeded: {users} users, {balances} balances, {live_builds} live builds "
        "({silent_builds} silent for 15 min+), {old_artifacts} artifacts older than 30 days".format(
            **counts
        )
    )
