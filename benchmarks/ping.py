"""fleet.ping through every middleware vs a bare Celery task: CPU time per task, interleaved.

Three sides, same broker, prefork concurrency 2, run A B C A B C for ROUNDS rounds
of TASKS tasks each (benchmarks/workload.py: the queue is filled while no worker
runs; CPU of the worker's process tree and of redis-server is sampled from its
first message taken to the last one acknowledged):

- bare: benchmarks/bare_app.py, Celery with late ack, reject on worker lost,
  prefetch 1 and a result backend (what at-least-once costs, nothing more);
- fleet: fleet.ping through the whole pipeline, published the way beat publishes
  every scheduled job (`ignore_result`: nobody waits, job_runs records outcomes);
- fleet+result: the same, published by a caller that waits (`jobs run --wait`), so
  the result is written as bare Celery writes it.

Primary figure: the median of the per-round ratios of CPU per task (fleet / bare),
min-max, judged against <= 1.0x within a 5 % margin, "inconclusive" when the
rounds spread wider. Wall-clock tasks/s is reported second. The pipeline's own
per-task time (sheen_middleware_overhead_seconds, read from the fleet worker's
metric files) is reported as P50/P95/P99: judged on a fleet worker fed at a paced
PACED_RATE tasks/s (a load it keeps up with), and, for reference, over every drain.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks.common import BenchEnv, Figure
from benchmarks.measure import Comparison, Sample, compare, histogram_quantile, scaled
from benchmarks.workload import DrainSpec, drain, paced

TASKS = scaled(20_000, 2_000)
ROUNDS = scaled(5, 3)
PACED_TASKS = scaled(6_000, 600)
PACED_RATE = 100.0  # tasks/s: an eighth of what the fleet drains on this machine
MARGIN = 0.05
OVERHEAD_METRIC = "sheen_middleware_overhead_seconds"


def _apps(env: BenchEnv) -> dict[str, tuple[DrainSpec, Any]]:
    environ = env.environ()
    bare_urls = {
        "BARE_BROKER_URL": environ["SHEEN_BROKER_URL"],
        "BARE_RESULT_URL": environ["SHEEN_REDIS_URL"],
    }
    from benchmarks.bare_app import app as bare
    from workers.app import app as fleet

    bare.conf.update(
        broker_url=bare_urls["BARE_BROKER_URL"], result_backend=bare_urls["BARE_RESULT_URL"]
    )
    fleet_spec = DrainSpec("workers.app", "fleet.ping", "jobs")
    return {
        "bare": (DrainSpec("benchmarks.bare_app", "bare.ping", "bare", environ=bare_urls), bare),
        # published as beat publishes every scheduled job: nobody waits, no result is written
        "fleet": (replace(fleet_spec, options={"ignore_result": True}), fleet),
        # published by a caller that waits (`jobs run --wait`): the result is written
        "fleet+result": (replace(fleet_spec, options={"ignore_result": False}), fleet),
    }


def _overhead_buckets(state_dirs: list[Path]) -> list[tuple[float, float]]:
    """Cumulative buckets of the overhead histogram, summed over every fleet round's files."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    totals: dict[float, float] = {}
    for state in state_dirs:
        for path in (state / "metrics").iterdir():
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=str(path))
            for family in registry.collect():
                for sample in family.samples:
                    if sample.name == f"{OVERHEAD_METRIC}_bucket":
                        bound = float(sample.labels["le"])
                        totals[bound] = totals.get(bound, 0.0) + sample.value
    return sorted(totals.items())


def _ratio_figure(name: str, cmp: Comparison, note: str = "") -> Figure:
    extra = f"; {note}" if note else ""
    return Figure(name, cmp.median, "x", cmp.summary().split("x (", 1)[1].rstrip(")") + extra)


def run(env: BenchEnv) -> list[Figure]:
    apps = _apps(env)
    samples: dict[str, list[Sample]] = {name: [] for name in apps}
    fleet_states: list[Path] = []
    for rnd in range(ROUNDS):
        for name, (base, app) in apps.items():
            spec = base
            if name == "fleet":  # a state folder per round: its metric files are read at the end
                state = env.tmp / f"ping-state-{rnd}"
                fleet_states.append(state)
                spec = replace(base, environ={"SHEEN_STATE_DIR": str(state)})
            sample = drain(env, spec, app, TASKS, f"ping-{name}-{rnd}")
            samples[name].append(sample)
            print(
                f"  round {rnd + 1} {name:<12} {sample.cpu_per_task * 1e6:7.1f} us CPU/task "
                f"(worker {sample.cpu.parts['worker'] / sample.tasks * 1e6:6.1f}, "
                f"redis {sample.cpu.parts['redis'] / sample.tasks * 1e6:5.1f})  "
                f"{sample.rate:7,.0f} tasks/s",
                flush=True,
            )

    def cpu(side: str) -> list[float]:
        return [s.cpu_per_task for s in samples[side]]

    def wall(side: str) -> list[float]:
        return [s.wall_seconds / s.tasks for s in samples[side]]

    figures = []
    for name in apps:
        per_task = sorted(cpu(name))[len(cpu(name)) // 2] * 1e6
        rate = sorted(s.rate for s in samples[name])[len(samples[name]) // 2]
        figures.append(Figure(f"{name}: CPU per task (median round)", per_task, "us"))
        figures.append(Figure(f"{name}: wall-clock rate (median round)", rate, "tasks/s"))
    fleet_vs_bare = compare(cpu("fleet"), cpu("bare"), target=1.0, margin=MARGIN)
    figures += [
        _ratio_figure("fleet / bare, CPU per task", fleet_vs_bare),
        _ratio_figure(
            "fleet+result / bare, CPU per task",
            compare(cpu("fleet+result"), cpu("bare"), target=1.0, margin=MARGIN),
            "a caller that waits for the result",
        ),
        _ratio_figure(
            "fleet / bare, wall time per task",
            compare(wall("fleet"), wall("bare"), target=1.0, margin=MARGIN),
            "sensitive to other load",
        ),
    ]
    # The latency target is judged where the worker keeps up (paced publishes); the drains'
    # figure is the same histogram with every process queueing for one of the two cores.
    paced_state = env.tmp / "ping-state-paced"
    fleet_spec, fleet_app = apps["fleet"]
    paced(env, fleet_spec, fleet_app, PACED_TASKS, PACED_RATE, paced_state)
    for label, states, note in (
        (f"paced at {PACED_RATE:g}/s", [paced_state], "target P95 < 0.5 ms"),
        ("saturated drains", fleet_states, "for reference: includes waiting for a core"),
    ):
        buckets = _overhead_buckets(states)
        if not buckets or not buckets[-1][1]:
            continue
        for q in (50, 95, 99):
            figures.append(
                Figure(
                    f"middleware overhead P{q}, {label}",
                    histogram_quantile(q / 100, buckets) * 1e3,
                    "ms",
                    f"{int(buckets[-1][1]):,} executions; {note}" if q == 95 else "",
                )
            )
    figures.append(
        Figure(
            "verdict (fleet CPU per task <= bare)", fleet_vs_bare.median, "x", fleet_vs_bare.verdict
        )
    )
    return figures
