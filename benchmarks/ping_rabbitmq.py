"""fleet.ping vs bare Celery on RabbitMQ (quorum queues): CPU time per task, interleaved.

The RabbitMQ counterpart of benchmarks/ping.py, with the same method
(benchmarks/measure.py): a RabbitMQ node of its own (sheen.embedded_rabbitmq), the
queue filled while no worker runs, then the worker drains it; CPU of the worker's
process tree and of the broker's Erlang VM from the first message taken to the queue
empty. Sides: bare (benchmarks/bare_quorum_app.py: late ack, reject on worker lost,
prefetch 1, results, a quorum queue) and fleet (fleet.ping through every middleware,
`ignore_result` as beat publishes). Median of per-round ratios, min-max.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from kombu import Connection, Producer

from benchmarks.common import BenchEnv, Figure
from benchmarks.measure import ProcessTree, Sample, compare, scaled
from sheen.broker import task_queue
from sheen.embedded_rabbitmq import EmbeddedRabbitMQ

TASKS = scaled(3_000, 500)
ROUNDS = scaled(3, 3)
MARGIN = 0.05
SIDES = {
    # name: (app module, task, queue, publish ignore_result)
    "bare": ("benchmarks.bare_quorum_app", "bare.ping", "bare", False),
    "fleet": ("workers.app", "fleet.ping", "jobs", True),
}


def _message(
    app: Any, task: str, ignore_result: bool
) -> tuple[bytes, dict[str, Any], dict[str, Any]]:
    """One Celery protocol-2 message (body, headers, properties) to copy with fresh ids."""
    msg = app.amqp.as_task_v2(str(uuid.uuid4()), task, (), {}, ignore_result=ignore_result)
    body = json.dumps(msg.body).encode()
    return body, dict(msg.headers), dict(msg.properties)


def _depth(conn: Connection, queue: str) -> int:
    return int(conn.default_channel.queue_declare(queue=queue, passive=True).message_count)


def _fill(
    url: str, queue: str, message: tuple[bytes, dict[str, Any], dict[str, Any]], n: int
) -> None:
    body, headers, properties = message
    with Connection(url) as conn:
        channel = conn.channel()
        kind_queue = task_queue(queue, "rabbitmq", 5) if queue == "jobs" else None
        if kind_queue is not None:
            kind_queue(channel).declare()
        else:  # the bare app's own quorum queue, as Celery declares it
            from kombu import Exchange, Queue

            Queue(queue, Exchange(queue), routing_key=queue,
                  queue_arguments={"x-queue-type": "quorum"})(channel).declare()  # fmt: skip
        channel.queue_purge(queue)
        producer = Producer(channel)
        for _ in range(n):
            task_id = str(uuid.uuid4())
            producer.publish(
                body,
                routing_key=queue,
                exchange="",
                headers={**headers, "id": task_id, "root_id": task_id, "trace_id": uuid.uuid4().hex,
                         "sent_at": time.time()},
                correlation_id=task_id,
                reply_to=properties.get("reply_to"),
                content_type="application/json",
                content_encoding="utf-8",
                delivery_mode=2,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while _depth(conn, queue) < n:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {_depth(conn, queue)} of {n} messages landed")
            time.sleep(0.05)


def _drain(env: BenchEnv, node: EmbeddedRabbitMQ, side: str, app: Any, label: str) -> Sample:
    module, task, queue, ignore = SIDES[side]
    environ = env.environ(
        SHEEN_BROKER_URL=node.url,
        SHEEN_METRICS_PORT="0",
        SHEEN_STATE_DIR=str(env.tmp / f"state-{label}"),
        BARE_BROKER_URL=node.url,
        BARE_RESULT_URL=env.environ()["SHEEN_REDIS_URL"],
    )
    _fill(node.url, queue, _message(app, task, ignore), TASKS)
    argv = [
        sys.executable, "-m", "celery", "-A", module, "worker", "--pool", "prefork", "-c", "2",
        "-Q", queue, "--without-mingle", "--without-gossip", "-n", f"{queue}@%h",
        "--loglevel", "WARNING",
    ]  # fmt: skip
    log = Path(env.tmp / f"{label}.log")
    with log.open("wb") as out, Connection(node.url) as conn:
        proc = subprocess.Popen(argv, env=environ, stdout=out, stderr=subprocess.STDOUT)
        try:
            tree = ProcessTree(proc.pid, extra=[node.pid], extra_names=["rabbitmq"])
            deadline = time.monotonic() + 300
            while _depth(conn, queue) >= TASKS:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{label}: worker exited or never consumed: {log}")
                time.sleep(0.002)
            before, began = tree.cpu(), time.perf_counter()
            while _depth(conn, queue):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{label}: did not drain: {log}")
                time.sleep(0.05)
            wall = time.perf_counter() - began
            return Sample(tasks=TASKS, cpu=tree.cpu() - before, wall_seconds=wall)
        finally:
            proc.terminate()
            proc.wait(60)


def run(env: BenchEnv) -> list[Figure]:
    from celery import Celery

    import celeryconfig
    from sheen.settings import parse_settings

    node = EmbeddedRabbitMQ(env.tmp / "rabbitmq").start()
    try:
        settings = parse_settings(env.environ(SHEEN_BROKER_URL=node.url))
        fleet = Celery("bench-fleet", set_as_current=False)
        fleet.conf.update(celeryconfig.build(settings))
        from benchmarks.bare_quorum_app import app as bare

        apps = {"bare": bare, "fleet": fleet}
        samples: dict[str, list[Sample]] = {name: [] for name in SIDES}
        for rnd in range(ROUNDS):
            for name in SIDES:
                sample = _drain(env, node, name, apps[name], f"rmq-{name}-{rnd}")
                samples[name].append(sample)
                print(
                    f"  round {rnd + 1} {name:<6} {sample.cpu_per_task * 1e6:7.1f} us CPU/task "
                    f"(worker {sample.cpu.parts['worker'] / sample.tasks * 1e6:6.1f}, "
                    f"rabbitmq {sample.cpu.parts['rabbitmq'] / sample.tasks * 1e6:5.1f})  "
                    f"{sample.rate:7,.0f} tasks/s",
                    flush=True,
                )
    finally:
        node.stop()

    def cpu(side: str) -> list[float]:
        return [s.cpu_per_task for s in samples[side]]

    figures = []
    for name in SIDES:
        figures.append(
            Figure(
                f"rabbitmq {name}: CPU per task (median round)", sorted(cpu(name))[1] * 1e6, "us"
            )
        )
        rates = sorted(s.rate for s in samples[name])
        figures.append(
            Figure(f"rabbitmq {name}: wall-clock rate (median round)", rates[1], "tasks/s")
        )
    cmp = compare(cpu("fleet"), cpu("bare"), target=1 / 0.9, margin=MARGIN)
    rate_cmp = compare(
        [s.rate for s in samples["fleet"]],
        [s.rate for s in samples["bare"]],
        target=1.0,
        margin=MARGIN,
    )
    figures.append(Figure("rabbitmq fleet / bare, CPU per task", cmp.median, "x", cmp.summary()))
    figures.append(
        Figure(
            "rabbitmq fleet / bare, throughput",
            rate_cmp.median,
            "x",
            f"min {rate_cmp.low:.3f}, max {rate_cmp.high:.3f}; >= 0.9x wanted",
        )
    )
    return figures
