"""A fleet of its own for fault tests: Redis (AOF, fsync always) and PostgreSQL that the
test may kill, stop and restart, real workers, and a non-idempotent probe effect.

Every service runs on a free port in the test's temporary folder, never the machine's.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import redis
from celery import Celery

from sheen.db.migrate import upgrade
from sheen.deadletters.registry import DeadLetterRegistry
from sheen.devserver import celery
from sheen.embedded import EmbeddedPostgres, EmbeddedRedis, free_port
from sheen.reliability.inflight import InFlight
from tests.conftest import ROOT, WorkerProcess

PROBES = "tests.probes.faults"
JOB = "probe.insert"


@dataclass
class FaultFleet:
    tmp: Path
    redis: EmbeddedRedis
    pg: EmbeddedPostgres
    overrides: dict[str, str] = field(default_factory=dict)
    workers: list[WorkerProcess] = field(default_factory=list)
    _producer: Celery | None = None

    @property
    def broker_url(self) -> str:
        return f"{self.redis.url}/0"

    @property
    def state_url(self) -> str:
        return f"{self.redis.url}/1"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHEEN_")}
        env.update(
            SHEEN_ENV="ci",
            SHEEN_BROKER_URL=self.broker_url,
            SHEEN_REDIS_URL=self.state_url,
            SHEEN_DATABASE_URL=self.pg.url,
            SHEEN_STATE_DIR=str(self.tmp / "state"),
            SHEEN_LOG_FORMAT="console",
            SHEEN_EXTRA_TASK_MODULES=PROBES,
            SHEEN_METRICS_PORT="0",
            # Scaled limits: longest hard limit 18.15 s (the probe's), lease 19.15 s, backoff
            # 0.01-3 s, a dead worker's messages restored after 25 s.
            SHEEN_TIME_LIMIT_SCALE="0.005",
            SHEEN_VISIBILITY_TIMEOUT_SECONDS="25",
            SHEEN_MAX_DELIVERIES="10",
        )
        env.update(self.overrides)
        return env

    def start_worker(self, concurrency: int = 2, wait: bool = True) -> WorkerProcess:
        n = len(self.workers)
        name = f"fault{n}-{os.getpid()}@%h"
        log_path = self.tmp / f"worker{n}.log"
        argv = celery(
            "worker", "--pool", "prefork", "-c", str(concurrency), "-n", name, "-Q", "jobs",
            "--without-mingle", "--without-gossip",
        )  # fmt: skip
        with log_path.open("wb") as out:
            proc = subprocess.Popen(
                argv, cwd=ROOT, env=self.env(), stdout=out, stderr=subprocess.STDOUT
            )
        worker = WorkerProcess(proc, log_path, name)
        self.workers.append(worker)
        if wait:
            worker.wait_for_log(" ready.", 60)
        return worker

    def live_workers(self) -> list[WorkerProcess]:
        return [w for w in self.workers if w.proc.poll() is None]

    def publish(self, n: int, sleep_ms: int = 0, prefix: str = "k") -> list[str]:
        """Send `n` probe.insert tasks, each with its own idempotency key."""
        if self._producer is None:
            self._producer = Celery("fault-producer", broker=self.broker_url)
            self._producer.conf.update(task_default_queue="jobs", broker_connection_retry=True)
        keys = [f"{prefix}{i:05}" for i in range(n)]
        with self._producer.producer_or_acquire() as producer:
            for key in keys:
                self._producer.send_task(
                    JOB,
                    kwargs={"idempotency_key": key, "sleep_ms": sleep_ms},
                    producer=producer,
                    ignore_result=True,
                )
        return keys

    def db(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.pg.url, autocommit=True, connect_timeout=3)

    def effects(self) -> dict[str, int]:
        """How many times each key's effect was applied."""
        with self.db() as conn:
            rows = conn.execute("SELECT key, count(*) FROM probe_effects GROUP BY key").fetchall()
        return {key: int(count) for key, count in rows}

    def dead_letters(self) -> int:
        return len(DeadLetterRegistry(redis.Redis.from_url(self.broker_url)))

    def in_flight(self) -> int:
        return InFlight(redis.Redis.from_url(self.broker_url), ["jobs"]).summary().total

    def wait_settled(self, keys: list[str], timeout: float) -> dict[str, int]:
        """Until every key has its effect and nothing is left in flight; returns the effects."""
        deadline = time.monotonic() + timeout
        effects: dict[str, int] = {}
        while time.monotonic() < deadline:
            with contextlib.suppress(psycopg.Error, redis.RedisError):
                effects = self.effects()
                if len(effects) >= len(keys) and self.in_flight() == 0:
                    return effects
            time.sleep(0.5)
        missing = len(set(keys) - set(effects))
        raise AssertionError(
            f"not settled after {timeout} s: {missing} keys without effect, "
            f"in flight {self.in_flight()}, dead letters {self.dead_letters()}\n"
            + "\n".join(w.log()[-1500:] for w in self.workers[-2:])
        )

    def restart_redis(self, down_seconds: float) -> None:
        """SIGKILL the Redis server (broker and state), keep it down, restart it on its AOF."""
        assert self.redis.proc is not None
        self.redis.proc.send_signal(signal.SIGKILL)
        self.redis.proc.wait()
        time.sleep(down_seconds)
        self.redis.start()
        _fsync_always(self.redis)

    def stop(self) -> None:
        for worker in self.live_workers():
            worker.kill()
        self.pg.stop()
        self.redis.stop()


def _fsync_always(r: EmbeddedRedis) -> None:
    """Every write reaches the AOF before Redis answers: a SIGKILL loses nothing acknowledged."""
    redis.Redis.from_url(r.url).config_set("appendfsync", "always")


@contextlib.contextmanager
def fault_fleet(tmp: Path, **overrides: str) -> Iterator[FaultFleet]:
    r = EmbeddedRedis(tmp / "redis", free_port(), persist=True).start()
    _fsync_always(r)
    pg = EmbeddedPostgres(tmp / "pg", free_port(), database="faults", durable=True).start()
    fleet = FaultFleet(tmp, r, pg, dict(overrides))
    try:
        upgrade(pg.url.replace("postgresql://", "postgresql+psycopg://"))
        with fleet.db() as conn:
            # No unique constraint on purpose: a second application would be a second row.
            conn.execute("CREATE TABLE probe_effects (key text NOT NULL, task_id text NOT NULL)")
        yield fleet
    finally:
        fleet.stop()


class Repeatedly:
    """Run `action` every `interval` seconds in a thread until stopped (a fault injector)."""

    def __init__(self, interval: float, action: Callable[[], None]) -> None:
        self.interval = interval
        self.action = action
        self.count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with contextlib.suppress(Exception):
                self.action()
                self.count += 1

    def __enter__(self) -> Repeatedly:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def forget_done_keys(fleet: FaultFleet) -> Callable[[], None]:
    """Drop the job's Redis done-set: Redis forgets, PostgreSQL must remember."""
    client = redis.Redis.from_url(fleet.state_url, socket_timeout=1)
    return lambda: client.delete(f"sheen:idem:done:{JOB}")
