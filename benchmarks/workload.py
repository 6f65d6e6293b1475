"""A drain of N queued tasks by a real prefork worker, measured with benchmarks.measure.

    sample = drain(env, DrainSpec(app_module="workers.app", task="fleet.ping", queue="jobs"),
                   tasks=20_000, label="fleet-0")

The queue is filled while no worker runs (one message published through Celery,
then copied with fresh ids in pipelined LPUSHes: fast enough that filling is not
the bottleneck of a benchmark), then the worker starts. The CPU of the worker's
process tree and of redis-server is sampled when the worker takes its first
message and again when queue and unacked hash are both empty, so start-up,
imports and shutdown are not counted.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from benchmarks.common import BenchEnv
from benchmarks.measure import ProcessTree, Sample

POLL_START = 0.002
POLL_DRAIN = 0.05  # 40 Redis commands/s while draining: noise under 0.1 % of the broker's CPU


@dataclass(frozen=True)
class DrainSpec:
    app_module: str  # "workers.app" or "benchmarks.bare_app"
    task: str
    queue: str
    concurrency: int = 2
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)  # send_task options (ignore_result)
    environ: Mapping[str, str] = field(default_factory=dict)  # on top of env.environ()


def redis_pid(client: redis.Redis) -> int:
    return int(client.info("server")["process_id"])


def fill_queue(app: Any, client: redis.Redis, spec: DrainSpec, tasks: int) -> None:
    """Queue `tasks` copies of one Celery message, each with its own task id and trace id."""
    client.delete(spec.queue)
    app.send_task(spec.task, kwargs=dict(spec.kwargs), queue=spec.queue, **dict(spec.options))
    raw = client.rpop(spec.queue)
    if raw is None:
        raise RuntimeError(f"no message landed in {spec.queue!r}")
    template = json.loads(raw)
    pipe = client.pipeline(transaction=False)
    for n in range(tasks):
        message = copy.deepcopy(template)
        task_id = str(uuid.uuid4())
        headers, props = message["headers"], message["properties"]
        headers["id"] = headers["root_id"] = props["correlation_id"] = task_id
        props["delivery_tag"] = str(uuid.uuid4())
        if "trace_id" in headers:
            headers["trace_id"] = uuid.uuid4().hex
        pipe.lpush(spec.queue, json.dumps(message))
        if n % 2000 == 1999:
            pipe.execute()
    pipe.execute()


def start_worker(spec: DrainSpec, environ: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    argv = [
        sys.executable, "-m", "celery", "-A", spec.app_module, "worker",
        "--pool", "prefork", "-c", str(spec.concurrency), "-Q", spec.queue,
        "--without-mingle", "--without-gossip", "-n", f"{spec.queue}@%h",
        "--loglevel", "WARNING",
    ]  # fmt: skip
    with log.open("wb") as out:
        return subprocess.Popen(argv, env=dict(environ), stdout=out, stderr=subprocess.STDOUT)


def _remaining(client: redis.Redis, queue: str) -> int:
    pipe = client.pipeline(transaction=False)
    pipe.llen(queue)
    pipe.hlen("unacked")
    queued, unacked = pipe.execute()
    return int(queued) + int(unacked)


def _wait_drained(
    client: redis.Redis, queue: str, proc: subprocess.Popen[bytes], deadline: float, label: str
) -> None:
    """Until queue and unacked hash are both empty; an exited worker or the deadline raises."""
    while _remaining(client, queue):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{label}: did not drain")
        time.sleep(POLL_DRAIN)


def drain(
    env: BenchEnv, spec: DrainSpec, app: Any, tasks: int, label: str, timeout: float = 600
) -> Sample:
    """Fill, start a worker, measure its drain of the queue (CPU and wall), stop it."""
    environ = env.environ(SHEEN_METRICS_PORT="0", **dict(spec.environ))
    client = redis.Redis.from_url(environ["SHEEN_BROKER_URL"])
    results = redis.Redis.from_url(environ["SHEEN_REDIS_URL"])
    client.flushdb()
    results.flushdb()
    fill_queue(app, client, spec, tasks)
    proc = start_worker(spec, environ, env.tmp / f"{label}.log")
    deadline = time.monotonic() + timeout
    try:
        tree = ProcessTree(proc.pid, extra=[redis_pid(client)], extra_names=["redis"])
        while client.llen(spec.queue) >= tasks:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{label}: worker exited ({proc.returncode}) or never consumed")
            time.sleep(POLL_START)
        before = tree.cpu()
        began = time.perf_counter()
        counted = _remaining(client, spec.queue)
        _wait_drained(client, spec.queue, proc, deadline, label)
        wall = time.perf_counter() - began
        used = tree.cpu() - before
        return Sample(tasks=counted, cpu=used, wall_seconds=wall)
    finally:
        proc.terminate()
        proc.wait(60)


def paced(
    env: BenchEnv,
    spec: DrainSpec,
    app: Any,
    tasks: int,
    rate: float,
    state: Path,
    timeout: float = 600,
) -> None:
    """Publish `tasks` one by one at `rate` per second to a running worker whose state
    (metric files) is `state`: latency at a load the worker keeps up with, where a drain
    measures it saturated (every process waiting for one of the cores)."""
    environ = env.environ(SHEEN_METRICS_PORT="0", SHEEN_STATE_DIR=str(state), **dict(spec.environ))
    client = redis.Redis.from_url(environ["SHEEN_BROKER_URL"])
    client.flushdb()
    proc = start_worker(spec, environ, env.tmp / f"{state.name}.log")
    deadline = time.monotonic() + timeout
    try:
        options = {"kwargs": dict(spec.kwargs), "queue": spec.queue, **dict(spec.options)}
        due = time.monotonic()
        for _ in range(tasks):
            app.send_task(spec.task, **options)
            due += 1.0 / rate
            time.sleep(max(due - time.monotonic(), 0.0))
        _wait_drained(client, spec.queue, proc, deadline, state.name)
    finally:
        proc.terminate()
        proc.wait(60)
