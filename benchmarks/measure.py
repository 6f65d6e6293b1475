"""How the benchmarks measure, so that a 5 % difference can be told from noise.

The primary figure of a throughput benchmark is CPU time per task: user + system
seconds of the worker's whole process tree and of the broker's redis-server,
sampled just before and just after the drain, divided by the tasks drained. A
noisy neighbour slows a process down (wall clock) far more than it changes the
CPU the process itself burns, so CPU per task stays meaningful on a shared machine;
wall-clock tasks/s is kept as a second figure.

Sides run interleaved (A B C A B C ...): each round measures every side once, and a
comparison is the median of the per-round ratios, with their min-max, never best
against best. When the min-max spread of the ratios is wider than the margin that
the target must be met by, there is no verdict: "inconclusive".

    tree = ProcessTree(worker.pid, extra=[redis_pid])
    before = tree.cpu()
    ...drain...
    used = tree.cpu() - before

    rounds = interleave({"bare": run_bare, "fleet": run_fleet}, ROUNDS)
    cmp = compare(rounds["fleet"], rounds["bare"], target=1.0, margin=0.05)
    print(cmp.summary())

BENCH_QUICK=1 in the environment asks for fewer and smaller rounds (`scaled`): a
smoke run whose figures carry no verdict worth recording.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import psutil

Verdict = Literal["meets target", "misses target", "inconclusive"]


def quick() -> bool:
    """True when BENCH_QUICK asks for a smoke run (fewer, smaller rounds)."""
    return os.environ.get("BENCH_QUICK", "") not in ("", "0")


def scaled(full: int, smoke: int) -> int:
    """`full` normally, `smoke` under BENCH_QUICK=1."""
    return smoke if quick() else full


def load_average() -> tuple[float, float, float]:
    """The machine's 1, 5 and 15 minute load averages (`uptime`)."""
    return os.getloadavg()


def format_load(load: Sequence[float]) -> str:
    return " ".join(f"{v:.2f}" for v in load)


# --- CPU accounting -----------------------------------------------------------------


@dataclass(frozen=True)
class Cpu:
    """CPU seconds of a set of processes: user + system, and how it splits."""

    user: float = 0.0
    system: float = 0.0
    parts: Mapping[str, float] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return self.user + self.system

    def __sub__(self, other: Cpu) -> Cpu:
        parts = {k: v - other.parts.get(k, 0.0) for k, v in self.parts.items()}
        return Cpu(self.user - other.user, self.system - other.system, parts)


def _own(proc: psutil.Process) -> tuple[float, float]:
    times = proc.cpu_times()
    return times.user, times.system


class ProcessTree:
    """CPU time of a process, all its descendants (live or exited), and extra processes.

    A live child's time is read from the child itself. A child that exited and was
    reaped moves into its parent's children_user/children_system, so those are added
    too: a pool child replaced half-way (max tasks per child) is neither lost nor
    counted twice. `extra` are unrelated processes measured alongside, such as the
    broker's redis-server (named "redis" in `parts`, or by `extra_names`).
    """

    def __init__(
        self, pid: int, extra: Iterable[int] = (), extra_names: Iterable[str] = ()
    ) -> None:
        self.root = psutil.Process(pid)
        self.extra = [psutil.Process(p) for p in extra]
        names = list(extra_names)
        self.extra_names = names + [f"extra{i}" for i in range(len(names), len(self.extra))]

    def cpu(self) -> Cpu:
        times = self.root.cpu_times()
        main = times.user + times.system
        user = times.user + times.children_user
        system = times.system + times.children_system
        for child in self.root.children(recursive=True):
            try:
                u, s = _own(child)
            except psutil.NoSuchProcess:  # exited between listing and reading: reaped later
                continue
            user += u
            system += s
        parts = {"worker": user + system, "worker main": main, "pool": user + system - main}
        for name, proc in zip(self.extra_names, self.extra, strict=True):
            u, s = _own(proc)
            user += u
            system += s
            parts[name] = u + s
        return Cpu(user, system, parts)


# --- Rounds and their statistics ----------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One side's round: how many tasks (rows, requests...), the CPU and wall time spent."""

    tasks: int
    cpu: Cpu
    wall_seconds: float

    @property
    def cpu_per_task(self) -> float:
        return self.cpu.total / self.tasks

    @property
    def rate(self) -> float:
        return self.tasks / self.wall_seconds


def interleave(
    sides: Mapping[str, Callable[[int], Sample]], rounds: int
) -> dict[str, list[Sample]]:
    """Run each side once per round, in the given order, for `rounds` rounds (A B C A B C)."""
    results: dict[str, list[Sample]] = {name: [] for name in sides}
    for rnd in range(rounds):
        for name, side in sides.items():
            results[name].append(side(rnd))
    return results


@dataclass(frozen=True)
class Comparison:
    """Per-round ratios of a measured side over its baseline and what they allow us to say.

    `target` is the ratio to stay at or under (1.0: no dearer than the baseline) and
    `margin` the resolution we claim: a spread (max - min of the ratios) wider than
    the margin means the rounds disagree more than the difference we want to judge.
    """

    ratios: tuple[float, ...]
    target: float
    margin: float

    @property
    def median(self) -> float:
        return statistics.median(self.ratios)

    @property
    def low(self) -> float:
        return min(self.ratios)

    @property
    def high(self) -> float:
        return max(self.ratios)

    @property
    def spread(self) -> float:
        return self.high - self.low

    @property
    def verdict(self) -> Verdict:
        if len(self.ratios) < 3 or self.spread > self.margin:
            return "inconclusive"
        return "meets target" if self.median <= self.target else "misses target"

    def summary(self) -> str:
        return (
            f"median {self.median:.3f}x (min {self.low:.3f}, max {self.high:.3f}, "
            f"spread {self.spread:.3f}, {len(self.ratios)} rounds); target <= {self.target:g}x "
            f"within {self.margin:g}: {self.verdict}"
        )


def ratios(measured: Sequence[float], baseline: Sequence[float]) -> tuple[float, ...]:
    """measured[i] / baseline[i] for each round i."""
    if len(measured) != len(baseline) or not measured:
        raise ValueError("a comparison needs the same non-zero number of rounds on both sides")
    return tuple(m / b for m, b in zip(measured, baseline, strict=True))


def compare(
    measured: Sequence[float], baseline: Sequence[float], target: float, margin: float
) -> Comparison:
    """Median of per-round ratios measured/baseline, judged against `target` +- `margin`."""
    return Comparison(ratios(measured, baseline), target, margin)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0 < q < 100) of `values`, linearly interpolated (inclusive)."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float:
    """Prometheus's histogram_quantile over cumulative (upper bound, count) buckets, q in 0..1.

    Linear interpolation inside the bucket that holds the rank; the +Inf bucket
    answers its lower bound (as Prometheus does).
    """
    ordered = sorted(buckets)
    if not ordered or ordered[-1][1] == 0:
        raise ValueError("empty histogram")
    rank = q * ordered[-1][1]
    prev_bound, prev_count = 0.0, 0.0
    for bound, count in ordered:
        if count >= rank:
            if bound == float("inf"):
                return prev_bound
            if count == prev_count:
                return bound
            return prev_bound + (bound - prev_bound) * (rank - prev_count) / (count - prev_count)
        prev_bound, prev_count = bound, count
    return prev_bound
