"""Demo data for a development fleet: users, balances, live and silent builds, old artifacts.

Set-based SQL (generate_series) with deterministic ids: a rerun refreshes the same rows
instead of adding more, so `make run` jobs always find work after `sheen-ops dev seed`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from sheen.db.queries import query

STEPS = ("plans", "users", "balances", "builds", "artifacts")


def seed_demo(engine: Engine, users: int) -> dict[str, Any]:
    """Insert or refresh the demo rows in one transaction; return what the tables now hold."""
    with engine.begin() as conn:
        for step in STEPS:
            conn.execute(query("seed", step), {"users": users})
        counts = conn.execute(query("seed", "counts")).one()
    return dict(counts._mapping)
