"""Keyset batching: each batch is one statement in its own transaction.

A job killed half-way loses at most the batch in flight (rolled back by
PostgreSQL); the next run walks the keys again and the queries' own filters skip
rows already done, so nothing is applied twice and memory stays bounded. The
last statement (the one that finds no further key) runs in the same transaction
as `finish`, which takes the job's done-mark (`RunContext.take_done_mark`): the
job is done in PostgreSQL exactly when its last batch committed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import Connection, Engine, TextClause

log = structlog.get_logger(__name__)
FIRST_KEY = uuid.UUID(int=0)
Finish = Callable[[Connection], None]


@dataclass
class BatchTotals:
    batches: int = 0
    affected: int = 0
    extra: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"batches": self.batches, "affected": self.affected, **self.extra}


def run_keyset_batches(
    engine: Engine,
    statement: TextClause,
    params: Mapping[str, Any],
    batch_size: int,
    finish: Finish | None = None,
) -> BatchTotals:
    """Run `statement` batch after batch until it reports no further key, then `finish`."""
    totals = BatchTotals()
    after: Any = FIRST_KEY
    while True:
        with engine.begin() as conn:
            row = (
                conn.execute(statement, {**params, "after": after, "batch_size": batch_size})
                .mappings()
                .one()
            )
            if row["last_key"] is None and finish is not None:
                finish(conn)
        if row["last_key"] is None:
            return totals
        after = row["last_key"]
        totals.batches += 1
        totals.affected += int(row["affected"])
        for key, value in row.items():
            if key not in ("last_key", "affected"):
                totals.extra[key] = totals.extra.get(key, 0) + int(value)
        log.debug("batch_done", batch=totals.batches, affected=int(row["affected"]))
