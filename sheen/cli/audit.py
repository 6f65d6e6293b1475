"""`sheen-ops audit verify [--log L]`: walk the hash-chained audit logs.

Exit status: 0 every chain intact, 1 a chain is broken (the first bad row is named).
"""

from __future__ import annotations

import sys

import click

from sheen.cli.output import emit_json, emit_table
from sheen.db.models import CHAINED_LOGS


@click.group()
def audit() -> None:
    """Tamper-evident audit logs."""


@audit.command("verify")
@click.option(
    "--log", "logs", multiple=True, type=click.Choice(CHAINED_LOGS), help="Only this log."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def verify_cmd(logs: tuple[str, ...], as_json: bool) -> None:
    """Recompute every row's hash and link; name the first altered, removed or moved row."""
    from sheen.artifacts.chain import verify
    from sheen.db.engine import get_engine

    engine = get_engine()
    reports = [verify(engine, log) for log in (logs or CHAINED_LOGS)]
    if as_json:
        emit_json([r.as_dict() for r in reports])
    else:
        emit_table(
            ["log", "rows", "head", "result"],
            [
                [
                    r.log,
                    r.rows,
                    f"{r.head_seq}:{r.head_hash[:16]}",
                    "ok" if r.first_break is None else f"BROKEN {r.first_break.detail}",
                ]
                for r in reports
            ],
        )
    sys.exit(0 if all(r.ok for r in reports) else 1)
