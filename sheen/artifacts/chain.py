"""Walk a hash-chained audit log and name the first row that was altered, removed or moved.

The insert trigger `sheen_chain_link()` (migration 0006) gives each row `chain_seq`
(1, 2, 3, ... in link order), `prev_hash` (the previous row's `row_hash`) and `row_hash`
= SHA-256 of the row's content including `prev_hash`. The walk recomputes each hash in
PostgreSQL with the same function and checks, in `chain_seq` order:

- the row's content still hashes to its `row_hash` (else: altered),
- `chain_seq` follows the previous one without a gap (else: removed),
- `prev_hash` is the previous row's `row_hash` (else: reordered, or a neighbour rewritten),
- the last row is the one `audit_chain_heads` names (else: the tail was removed).

None of this needs the triggers to have been on: a row changed with triggers disabled
still no longer matches. Someone able to rewrite every later row and the head too can
forge a consistent chain; recording `head` somewhere else (a ticket, another system)
pins it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Engine, text

from sheen.db.models import CHAINED_LOGS

GENESIS = "0" * 64


@dataclass(frozen=True)
class ChainBreak:
    id: int | None
    chain_seq: int | None
    problem: str  # altered | removed | reordered | tail_removed
    detail: str


@dataclass(frozen=True)
class ChainReport:
    log: str
    rows: int
    head_seq: int
    head_hash: str
    first_break: ChainBreak | None

    @property
    def ok(self) -> bool:
        return self.first_break is None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"ok": self.ok}


class UnknownLog(ValueError):
    """Not one of the hash-chained logs."""


def _walk_sql(log: str) -> str:
    return (
        "SELECT id, chain_seq, prev_hash, row_hash,"
        f" sheen_chain_digest(to_jsonb(t) - 'row_hash') AS computed FROM {log} AS t"
        " ORDER BY chain_seq, id"
    )


def verify(engine: Engine, log: str) -> ChainReport:
    """Check one log from its first row to its head; stop at the first break."""
    if log not in CHAINED_LOGS:
        raise UnknownLog(f"{log!r} is not a hash-chained log (one of {', '.join(CHAINED_LOGS)})")
    with engine.connect() as conn, conn.begin():
        conn.execute(text("SET LOCAL \"TimeZone\" = 'UTC'"))  # as the trigger hashed it
        head = conn.execute(
            text("SELECT last_seq, last_hash FROM audit_chain_heads WHERE log = :log"),
            {"log": log},
        ).first()
        head_seq, head_hash = (int(head[0]), str(head[1])) if head else (0, GENESIS)
        rows = conn.execution_options(stream_results=True, yield_per=5000).execute(
            text(_walk_sql(log))
        )
        seen, prev_seq, prev_hash = 0, 0, GENESIS
        found: ChainBreak | None = None
        for row in rows:
            seen += 1
            found = _check(row, prev_seq, prev_hash)
            if found is not None:
                break
            prev_seq, prev_hash = int(row.chain_seq), str(row.row_hash)
        rows.close()
    if found is None and (prev_seq, prev_hash) != (head_seq, head_hash):
        found = ChainBreak(
            None,
            prev_seq + 1,
            "tail_removed",
            f"the log ends at seq {prev_seq} but its head records seq {head_seq}",
        )
    return ChainReport(log, seen, head_seq, head_hash, found)


def _check(row: Any, prev_seq: int, prev_hash: str) -> ChainBreak | None:
    rid, seq = int(row.id), int(row.chain_seq)
    if row.computed != row.row_hash:
        return ChainBreak(rid, seq, "altered", f"row id {rid}: content does not match its hash")
    if seq > prev_seq + 1:
        return ChainBreak(
            rid,
            seq,
            "removed",
            f"seq {prev_seq + 1}..{seq - 1} missing before row id {rid}",
        )
    if seq <= prev_seq or row.prev_hash != prev_hash:
        return ChainBreak(
            rid,
            seq,
            "reordered",
            f"row id {rid} does not follow seq {prev_seq}: its link to the previous row is broken",
        )
    return None
