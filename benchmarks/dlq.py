"""`sheen-ops dlq requeue --all` of 100,000 dead letters, timed end to end (a real CLI process).

The letters are written straight into the registry (pipelined), then the CLI
requeues them all: batched reads, pipelined publishes of 1,000, the list rewrite
that removes them, and 100,000 audit rows.
"""

from __future__ import annotations

import subprocess
import sys
import time

import redis

from benchmarks.common import BenchEnv, Figure
from sheen.deadletters import DeadLetter
from sheen.deadletters.registry import (
    BY_JOB,
    BY_TIME,
    COUNTS,
    QUEUE,
    RAW,
    DeadLetterRegistry,
    envelope,
)

LETTERS = 100_000


def _fill(registry: DeadLetterRegistry) -> None:
    pipe = registry.client.pipeline(transaction=False)
    now = time.time()
    for n in range(LETTERS):
        letter = DeadLetter(
            id=f"bench-{n}",
            task_id=f"bench-{n}",
            task="fleet.ping",
            reason="permanent",
            kwargs={},
            headers={"trace_id": f"t{n}", "idempotency_key": f"k{n}"},
            exc_type="RuntimeError",
            exc_message=f"failure {n}",
            dead_lettered_at=now + n / 1e6,
        )
        registry._add(
            keys=[RAW, BY_TIME, BY_JOB + letter.job, COUNTS, QUEUE],
            args=[letter.id, envelope(letter), letter.dead_lettered_at, letter.job],
            client=pipe,
        )
        if n % 5000 == 4999:
            pipe.execute()
    pipe.execute()


def run(env: BenchEnv) -> list[Figure]:
    environ = env.environ()
    client = redis.Redis.from_url(environ["SHEEN_BROKER_URL"])
    client.flushdb()
    registry = DeadLetterRegistry(client)
    _fill(registry)
    assert len(registry) == LETTERS
    began = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from sheen.cli.main import main; main()",
            "dlq",
            "requeue",
            "--all",
        ],
        env=environ,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"requeue failed: {done.stdout}{done.stderr}")
    assert len(registry) == 0 and client.llen("jobs") == LETTERS, done.stdout
    return [
        Figure("dlq requeue --all, 100,000 letters", seconds, "s", "target < 30"),
        Figure("  requeue rate", LETTERS / seconds, "letters/s"),
    ]
