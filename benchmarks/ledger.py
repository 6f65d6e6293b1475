"""Lost-task accounting: what counting one task sent and done costs, and what it keeps in Redis.

Against the benchmarks' embedded Redis, one client, as a worker and a publisher use it:
`sent` (one pipelined round trip: ZADD + two trims) and `done` (one ZREM), timed per
call over TASKS tasks, interleaved with a bare Redis PING round trip as the baseline
(the least one round trip costs). Memory per open entry from MEMORY USAGE.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable

import redis

from benchmarks.common import BenchEnv, Figure
from benchmarks.measure import scaled
from sheen.ledger.ledger import OPEN, TaskLedger

TASKS = scaled(20_000, 2_000)
ROUNDS = 3


def _per_call(call: Callable[[str], object], items: list[str]) -> float:
    began = time.perf_counter()
    for item in items:
        call(item)
    return (time.perf_counter() - began) / len(items)


def run(env: BenchEnv) -> list[Figure]:
    client = redis.Redis.from_url(env.environ()["SHEEN_REDIS_URL"])
    ledger = TaskLedger(client, retention_seconds=86400, max_entries=1_000_000)
    sent: list[float] = []
    done: list[float] = []
    ping: list[float] = []
    memory = 0.0
    for _ in range(ROUNDS):
        client.delete(OPEN)
        ids = [str(uuid.uuid4()) for _ in range(TASKS)]
        ping.append(_per_call(lambda _i: client.ping(), ids))
        sent.append(_per_call(lambda i: ledger.sent(i, "fleet.ping"), ids))
        memory = float(client.memory_usage(OPEN) or 0) / TASKS
        done.append(_per_call(lambda i: ledger.done(i, "fleet.ping"), ids))
    client.delete(OPEN)
    med = statistics.median
    return [
        Figure(
            "ledger sent, per task",
            med(sent) * 1e6,
            "us",
            f"min {min(sent) * 1e6:.1f}, max {max(sent) * 1e6:.1f}",
        ),
        Figure(
            "ledger done, per task",
            med(done) * 1e6,
            "us",
            f"min {min(done) * 1e6:.1f}, max {max(done) * 1e6:.1f}",
        ),
        Figure("baseline: one PING round trip", med(ping) * 1e6, "us"),
        Figure("ledger memory per open task", memory, "bytes", f"{TASKS:,} open entries"),
    ]
