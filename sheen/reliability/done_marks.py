"""Done-marks in PostgreSQL: the truth behind the Redis done-set for database work.

A task that commits its effect with `RunContext.transaction()` takes its key's
done-mark in the same transaction, first: the effect and the mark commit
together or not at all. Any later copy of the key (a redelivery after SIGKILL, a
retry, a requeued dead letter, a delivery after Redis lost its done-set) finds
the mark and does nothing; a concurrent copy waits on the row lock and then finds
it. Marks are kept for `SHEEN_DONE_KEY_RETENTION_SECONDS`, bounded by time.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Engine

from sheen.db.queries import query
from sheen.errors import SheenError


class AlreadyDone(SheenError):
    """The key's effect already committed (another copy ran it): this copy does nothing."""


def mark_done(conn: Connection, job: str, key: str, task_id: str) -> bool:
    """Take the done-mark in `conn`'s transaction; False if another copy already holds it."""
    row = conn.execute(
        query("idempotency", "mark_done"), {"job": job, "key": key, "task_id": task_id}
    ).first()
    return row is not None


def is_done(engine: Engine, job: str, key: str) -> bool:
    with engine.connect() as conn:
        return bool(
            conn.execute(query("idempotency", "is_done"), {"job": job, "key": key}).scalar()
        )


def prune(engine: Engine, before: datetime, batch_size: int = 5000) -> int:
    """Delete marks older than `before`, batch by batch; returns how many."""
    total = 0
    while True:
        with engine.begin() as conn:
            deleted = int(
                conn.execute(
                    query("idempotency", "prune_done"), {"before": before, "batch_size": batch_size}
                ).scalar_one()
            )
        total += deleted
        if deleted < batch_size:
            return total


def task_finished(engine: Engine, task_id: str) -> bool:
    """Whether `task_id` finished its work (so a late timeout must not dead-letter it)."""
    with engine.connect() as conn:
        return bool(
            conn.execute(query("idempotency", "task_finished"), {"task_id": task_id}).scalar()
        )


def keys_done(engine: Engine, pairs: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """Of `pairs` (job, key), those whose work is done: one set-based query."""
    if not pairs:
        return set()
    params = {"jobs": [j for j, _ in pairs], "keys": [k for _, k in pairs]}
    with engine.connect() as conn:
        return {(r.job, r.key) for r in conn.execute(query("idempotency", "keys_done"), params)}
