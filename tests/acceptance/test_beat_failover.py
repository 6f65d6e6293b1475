"""Beat HA: two beats share one RedBeat lease; when the active one dies the other takes over."""

from __future__ import annotations

import itertools
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from sheen.devserver import celery
from tests.probes.beat import TICKS
from tests.probes.beat_schedule import TICK_SECONDS
from tests.reliability_support import PROBES, state, wait_until

ROOT = Path(__file__).resolve().parents[2]
LEASE_SECONDS = 3


def _ticks(services) -> list[float]:
    return sorted(float(x.split()[0]) for x in state(services).lrange(TICKS, 0, -1))


@pytest.fixture
def beats(services, tmp_path):
    """Factory: start a `celery beat` (RedBeat) with the fast test schedule; killed at teardown."""
    started: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(name: str) -> tuple[subprocess.Popen[bytes], Path]:
        log = tmp_path / f"{name}.log"
        env = services.env(
            SHEEN_EXTRA_BEAT_SCHEDULE="tests.probes.beat_schedule",
            SHEEN_BEAT_LOCK_TIMEOUT_SECONDS=str(LEASE_SECONDS),
        )
        with log.open("wb") as out:
            proc = subprocess.Popen(
                celery("beat", "-l", "info", "-s", str(tmp_path / f"{name}-schedule")),
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        started.append((proc, log))
        return proc, log

    yield start
    for proc, _ in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_killed_active_beat_is_replaced_and_every_tick_is_delivered_once(
    db, services, start_worker, beats
):
    """Two beats, the active one SIGKILLed mid-interval: the standby takes over, no tick skipped or doubled."""
    # Given a worker, and two beats on a 5 s test schedule with a 3 s lease
    start_worker(concurrency=1, SHEEN_EXTRA_TASK_MODULES=f"{PROBES},tests.probes.beat")
    first, first_log = beats("beat-a")
    wait_until(lambda: "Acquired lock" in first_log.read_text(), 30, "beat-a to take the lease")
    second, second_log = beats("beat-b")
    wait_until(lambda: len(_ticks(services)) >= 2, 30, "two ticks from beat-a")
    assert "Acquired lock" not in second_log.read_text()  # the standby waits
    # When the active beat is SIGKILLed half-way between two ticks
    last = _ticks(services)[-1]
    time.sleep(max(0.0, last + TICK_SECONDS / 2 - time.time()))
    psutil.Process(first.pid).kill()
    killed_at = time.time()
    # Then the standby holds the lease within the lease time plus one loop
    wait_until(lambda: "Acquired lock" in second_log.read_text(), 15, "beat-b to take over")
    wait_until(lambda: len([t for t in _ticks(services) if t > killed_at]) >= 2, 40, "2 ticks")
    # And the ticks before and after came once each, one interval apart: none skipped, none doubled
    ticks = _ticks(services)
    gaps = [round(b - a, 2) for a, b in itertools.pairwise(ticks)]
    assert all(TICK_SECONDS - 1.1 <= g <= TICK_SECONDS + 1.1 for g in gaps), gaps
    assert second.poll() is None
