"""AI-time quotas: the daily usage reset and the daily bonus reset."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine

from sheen.db.queries import query
from sheen.services.batching import BatchTotals, Finish, run_keyset_batches


def reset_daily_usage(
    engine: Engine, day: date, batch_size: int, finish: Finish | None = None
) -> BatchTotals:
    """Every balance still counting an earlier day starts `day` at zero usage."""
    return run_keyset_batches(
        engine,
        query("balances", "reset_daily_usage"),
        {"day": day, "period": day.isoformat()},
        batch_size,
        finish,
    )


def reset_daily_bonus(
    engine: Engine, day: date, batch_size: int, finish: Finish | None = None
) -> BatchTotals:
    """Every balance gets its plan's daily bonus for `day`, within the monthly cap."""
    return run_keyset_batches(
        engine,
        query("balances", "reset_daily_bonus"),
        {"day": day, "period": day.isoformat()},
        batch_size,
        finish,
    )
