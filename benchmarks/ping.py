"""fleet.ping through every middleware vs a bare Celery task, same broker and concurrency.

Each side: 5,000 tasks are queued first (worker stopped), then a prefork worker of
concurrency 2 starts and drains them; throughput is timed from the first message
taken to the last one acknowledged (queue and unacked hash both empty), so worker
start-up and publishing are not counted. Sides alternate for ROUNDS rounds and the
best round of each is kept (the machine is shared; the best is the least disturbed).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import redis

from benchmarks.common import BenchEnv, Figure

TASKS = 5000
ROUNDS = 3
CONCURRENCY = 2


def _worker(app: str, queue: str, environ: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        app,
        "worker",
        "--pool",
        "prefork",
        "-c",
        str(CONCURRENCY),
        "-Q",
        queue,
        "--without-mingle",
        "--without-gossip",
        "-n",
        f"{queue}@%h",
        "--loglevel",
        "WARNING",
    ]
    with log.open("wb") as out:
        return subprocess.Popen(argv, env=environ, stdout=out, stderr=subprocess.STDOUT)


def _drain_rate(broker: redis.Redis, queue: str, proc: subprocess.Popen[bytes]) -> float:
    deadline = time.monotonic() + 300
    while broker.llen(queue) >= TASKS:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{queue} worker exited ({proc.returncode}) or never consumed")
        time.sleep(0.002)
    began = time.perf_counter()
    while broker.llen(queue) or broker.hlen("unacked"):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{queue} did not drain")
        time.sleep(0.002)
    return (TASKS - 1) / (time.perf_counter() - began)


def _side(env: BenchEnv, name: str, rnd: int) -> float:
    environ = env.environ(SHEEN_METRICS_PORT="0")
    broker = redis.Redis.from_url(environ["SHEEN_BROKER_URL"])
    broker.flushdb()
    if name == "bare":
        environ.update(
            BARE_BROKER_URL=environ["SHEEN_BROKER_URL"], BARE_RESULT_URL=environ["SHEEN_REDIS_URL"]
        )
        from benchmarks.bare_app import app

        app.conf.update(
            broker_url=environ["SHEEN_BROKER_URL"], result_backend=environ["SHEEN_REDIS_URL"]
        )
        task, queue, module = "bare.ping", "bare", "benchmarks.bare_app"
    else:
        from workers.app import app

        task, queue, module = "fleet.ping", "jobs", "workers.app"
    with app.producer_or_acquire() as producer:
        for _ in range(TASKS):
            app.send_task(task, queue=queue, producer=producer)
    proc = _worker(module, queue, environ, env.tmp / f"ping-{name}-{rnd}.log")
    try:
        return _drain_rate(broker, queue, proc)
    finally:
        proc.terminate()
        proc.wait(30)


def run(env: BenchEnv) -> list[Figure]:
    sides = ("bare", "bare+config", "fleet")
    best = dict.fromkeys(sides, 0.0)
    for rnd in range(ROUNDS):
        for name in sides:
            rate = _side(env, name, rnd)
            print(f"  round {rnd + 1} {name}: {rate:,.0f} tasks/s")
            best[name] = max(best[name], rate)
    return [
        Figure("bare Celery task (late ack, reject on lost, prefetch 1)", best["bare"], "tasks/s"),
        Figure("fleet.ping through the full middleware", best["fleet"], "tasks/s"),
        Figure(
            "bare Celery task with the fleet's Celery config",
            best["bare+config"],
            "tasks/s",
            "the fleet's full celeryconfig.STATIC: extended results, consumer, limits",
        ),
        Figure("fleet.ping / bare", best["fleet"] / best["bare"], "x", "target >= 0.95"),
        Figure(
            "fleet.ping / bare with fleet config",
            best["fleet"] / best["bare+config"],
            "x",
            "the middleware alone",
        ),
    ]
