"""The path validator on hostile sizes: refusal time of multi-megabyte paths (target < 50 ms).

Compared in the same run, interleaved over 5 rounds, against validating one ordinary
path (`src/components/Button.tsx`), the baseline cost of a call.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable

from benchmarks.common import BenchEnv, Figure
from sheen.security.paths import PathRefused, validate_relative_path

ROUNDS = 5
PROJECT = "7d0c4a52-3f0e-4c55-9a55-0f4b8c3f2a11"
CASES: dict[str, str] = {
    "10 MB ASCII path": "a" * 10_000_000,
    "1 M x U+FDFA (NFKC expands 18x)": "\ufdfa" * 1_000_000,
    "3 M percent escapes": "src/" + "%2e" * 3_000_000,
}
ORDINARY = "src/components/Button.tsx"


def _once(raw: str) -> float:
    began = time.perf_counter()
    with contextlib.suppress(PathRefused):
        validate_relative_path(raw, project_id=PROJECT)
    return time.perf_counter() - began


def _median_of(fn: Callable[[], float], times: int) -> float:
    return statistics.median(fn() for _ in range(times))


def run(env: BenchEnv) -> list[Figure]:
    del env
    samples: dict[str, list[float]] = {name: [] for name in CASES}
    ordinary: list[float] = []
    for _ in range(ROUNDS):  # interleaved: each round measures every case once
        ordinary.append(_median_of(lambda: _once(ORDINARY), 200))
        for name, raw in CASES.items():
            samples[name].append(_once(raw))
    figures = [Figure("ordinary path (baseline)", statistics.median(ordinary) * 1e6, "us")]
    for name, values in samples.items():
        ms = [v * 1000 for v in values]
        figures.append(
            Figure(
                f"refuse {name}",
                statistics.median(ms),
                "ms",
                f"min {min(ms):.2f}, max {max(ms):.2f} over {ROUNDS} rounds; target < 50 ms",
            )
        )
    return figures
