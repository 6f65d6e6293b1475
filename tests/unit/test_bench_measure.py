"""The benchmarks' statistics and CPU accounting (benchmarks/measure.py)."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil
import pytest

from benchmarks.measure import (
    Cpu,
    ProcessTree,
    Sample,
    compare,
    histogram_quantile,
    interleave,
    percentile,
    ratios,
    scaled,
)


def test_ratios_are_per_round_and_the_median_is_not_best_against_best() -> None:
    """The comparison is the median of per-round ratios, not the best round of each side."""
    # Given rounds where each side's best came from different rounds
    fleet = [10.0, 9.0, 12.0, 10.5, 11.0]
    bare = [10.0, 10.0, 10.0, 10.0, 8.0]
    # When compared
    cmp = compare(fleet, bare, target=1.0, margin=0.05)
    # Then the ratios are per round and the median is the middle one
    assert cmp.ratios == pytest.approx((1.0, 0.9, 1.2, 1.05, 1.375))
    assert cmp.median == pytest.approx(1.05)
    assert (cmp.low, cmp.high) == pytest.approx((0.9, 1.375))
    assert cmp.spread == pytest.approx(0.475)
    # (best vs best would have said 9.0 / 8.0 = 1.125)


def test_a_spread_wider_than_the_margin_gives_no_verdict() -> None:
    """Rounds that disagree by more than the margin are inconclusive, whatever the median."""
    # Given ratios whose median is well under target but which spread over 6 %
    cmp = compare([0.80, 0.86, 0.83], [1.0, 1.0, 1.0], target=1.0, margin=0.05)
    # When judged / Then no verdict is printed
    assert cmp.verdict == "inconclusive"
    assert "inconclusive" in cmp.summary()


def test_a_tight_spread_judges_the_median_against_the_target() -> None:
    """Within the margin, the median decides: at or under target meets it, over misses it."""
    # Given / When / Then
    meets = compare([0.93, 0.95, 0.96, 0.94, 0.97], [1.0] * 5, target=1.0, margin=0.05)
    assert meets.verdict == "meets target"
    misses = compare([1.02, 1.03, 1.04, 1.03, 1.05], [1.0] * 5, target=1.0, margin=0.05)
    assert misses.verdict == "misses target"
    # the target itself counts as met
    assert compare([1.0] * 3, [1.0] * 3, target=1.0, margin=0.05).verdict == "meets target"


def test_fewer_than_three_rounds_are_inconclusive() -> None:
    """One or two rounds never give a verdict, however close they are."""
    # Given / When / Then
    assert compare([0.9, 0.9], [1.0, 1.0], target=1.0, margin=0.05).verdict == "inconclusive"


def test_unequal_rounds_are_refused() -> None:
    """Ratios need the same rounds on both sides."""
    # Given / When / Then
    with pytest.raises(ValueError, match="same"):
        ratios([1.0, 2.0], [1.0])


def test_interleave_runs_sides_in_turn_round_after_round() -> None:
    """Sides run A B C A B C, each told its round number."""
    # Given sides that record when they were called
    calls: list[tuple[str, int]] = []

    def side(name: str):
        def run(rnd: int) -> Sample:
            calls.append((name, rnd))
            return Sample(tasks=10, cpu=Cpu(1.0, 1.0), wall_seconds=2.0)

        return run

    # When interleaved over two rounds
    out = interleave({"a": side("a"), "b": side("b"), "c": side("c")}, 2)
    # Then the order is a b c a b c and each side has its rounds
    assert calls == [("a", 0), ("b", 0), ("c", 0), ("a", 1), ("b", 1), ("c", 1)]
    assert [s.cpu_per_task for s in out["b"]] == [0.2, 0.2]
    assert out["a"][0].rate == 5.0


def test_percentiles_and_histogram_quantiles() -> None:
    """Raw percentiles interpolate linearly; histogram quantiles follow Prometheus."""
    # Given / When / Then
    assert percentile(list(range(1, 101)), 50) == pytest.approx(50.5)
    assert percentile([3.0], 99) == 3.0
    buckets = [(0.001, 50.0), (0.002, 90.0), (0.005, 100.0), (float("inf"), 100.0)]
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.001)
    assert histogram_quantile(0.95, buckets) == pytest.approx(0.0035)
    assert histogram_quantile(0.70, buckets) == pytest.approx(0.0015)


def test_quick_mode_scales_rounds_down(monkeypatch: pytest.MonkeyPatch) -> None:
    """BENCH_QUICK=1 picks the smoke size."""
    # Given / When / Then
    monkeypatch.delenv("BENCH_QUICK", raising=False)
    assert scaled(20_000, 500) == 20_000
    monkeypatch.setenv("BENCH_QUICK", "1")
    assert scaled(20_000, 500) == 500


BURN = "import time\nt = time.process_time()\nwhile time.process_time() - t < {s}: pass\n"


def test_process_tree_counts_live_and_exited_children_once() -> None:
    """CPU of a child that exits between two samples is counted once, via its parent."""
    # Given a parent that spawns one child burning 0.3 s of CPU, waits for it, then idles
    script = (
        "import subprocess, sys, time\n"
        f"subprocess.run([sys.executable, '-c', {BURN.format(s=0.3)!r}])\n"
        "time.sleep(30)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script])
    try:
        tree = ProcessTree(parent.pid)
        # wait until the child is running, then sample
        deadline = time.monotonic() + 10
        while not psutil.Process(parent.pid).children() and time.monotonic() < deadline:
            time.sleep(0.01)
        before = tree.cpu()
        # When the child exits and is reaped
        while psutil.Process(parent.pid).children() and time.monotonic() < deadline:
            time.sleep(0.01)
        used = tree.cpu() - before
        # Then the child's remaining burn is counted, once
        assert 0.1 < used.total < 0.45
        assert used.parts["worker"] == pytest.approx(used.total)
        assert used.parts["pool"] > 0.1 > used.parts["worker main"]
    finally:
        parent.kill()
        parent.wait()


def test_process_tree_adds_extra_processes_under_their_name() -> None:
    """An extra process (the broker) is added to the total and shown under its own name."""
    # Given an idle root and a busy unrelated process
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    busy = subprocess.Popen([sys.executable, "-c", BURN.format(s=5)])
    try:
        tree = ProcessTree(idle.pid, extra=[busy.pid], extra_names=["redis"])
        before = tree.cpu()
        # When the busy process has burnt at least 0.15 s more (however loaded the machine)
        own = psutil.Process(busy.pid)
        start = sum(own.cpu_times()[:2])
        deadline = time.monotonic() + 20
        while sum(own.cpu_times()[:2]) - start < 0.15 and time.monotonic() < deadline:
            time.sleep(0.02)
        used = tree.cpu() - before
        # Then its CPU is in the total under "redis", the idle root's is about zero
        assert used.parts["redis"] >= 0.15
        assert used.parts["worker"] < 0.05
        assert used.total == pytest.approx(used.parts["redis"] + used.parts["worker"])
    finally:
        for proc in (idle, busy):
            proc.kill()
            proc.wait()
