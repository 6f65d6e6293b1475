"""Exactly once in effect under faults injected from outside, with real workers.

Each test sends 1,000 `probe.insert` tasks whose effect is an INSERT into a table
without a unique constraint (a second application would be a second row), injects
a fault while they run, and then checks: every key applied exactly once, nothing
dead-lettered, nothing left in flight. Throughout, Redis's done-set is dropped
every 300 ms: a done-set far smaller than the backlog, so PostgreSQL's done-mark
(committed with the effect) is what stops duplicates.
"""

from __future__ import annotations

import random
import time

import pytest

from tests.fault_support import Repeatedly, fault_fleet, forget_done_keys

N = 1000
# Each drains 1,000 tasks through a fault and its recovery: minutes on 2 busy cores.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _assert_exactly_once(fleet, keys, effects, workers_killed: bool = False) -> None:
    doubled = {k: n for k, n in effects.items() if n > 1}
    assert not doubled, f"{len(doubled)} keys applied more than once: {list(doubled)[:5]}"
    assert set(effects) == set(keys), f"{len(set(keys) - set(effects))} keys lost"
    assert fleet.dead_letters() == 0
    with fleet.db() as conn:
        # A run may end `failure / worker_lost` only where a worker really was killed, and
        # then its task finished on a later delivery; a timeout never.
        bad = conn.execute(
            "SELECT f.status, f.error FROM job_runs f WHERE f.status IN ('failure', 'timeout')"
            " AND (f.status = 'timeout' OR f.error <> 'worker_lost' OR NOT %s OR NOT EXISTS ("
            "  SELECT 1 FROM job_runs s WHERE s.task_id = f.task_id AND s.id > f.id"
            "  AND s.status IN ('success', 'skipped')))",
            (workers_killed,),
        ).fetchall()
    assert not bad, f"good tasks recorded as failed: {bad[:5]}"


def _wait_effects(fleet, at_least: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(fleet.effects().values()) >= at_least:
            return
        time.sleep(0.1)
    raise AssertionError(f"fewer than {at_least} effects after {timeout} s")


@pytest.mark.parametrize("down_seconds", [20, 90], ids=["20s", "90s"])
def test_database_stopped_mid_run_applies_each_task_once(tmp_path, down_seconds):
    """PostgreSQL stopped for 20 s / 90 s with tasks in flight: one retry per failure, each effect once."""
    # Backoff of 2-10 s (scaled): fewer, longer waits while the database is away.
    backoff = {"SHEEN_RETRY_BACKOFF_SECONDS": "400", "SHEEN_RETRY_BACKOFF_MAX_SECONDS": "2000"}
    with fault_fleet(tmp_path, **backoff) as fleet:
        # Given two workers running 1,000 tasks, and a done-set Redis keeps forgetting
        fleet.start_worker()
        fleet.start_worker()
        with Repeatedly(0.3, forget_done_keys(fleet)):
            keys = fleet.publish(N, sleep_ms=5)
            _wait_effects(fleet, 150)
            # When PostgreSQL stops while tasks are in flight, and comes back
            fleet.pg.stop()
            time.sleep(down_seconds)
            fleet.pg.start()
            effects = fleet.wait_settled(keys, timeout=600)
        # Then every key is applied exactly once and nothing good is dead-lettered
        _assert_exactly_once(fleet, keys, effects)


def test_redis_killed_and_restarted_mid_run_applies_each_task_once(tmp_path):
    """Redis (broker and state) SIGKILLed and restarted from its AOF: each effect once, none dead-lettered."""
    with fault_fleet(tmp_path) as fleet:
        # Given two workers running 1,000 tasks
        fleet.start_worker()
        fleet.start_worker()
        with Repeatedly(0.3, forget_done_keys(fleet)):
            keys = fleet.publish(N, sleep_ms=5)
            _wait_effects(fleet, 200)
            # When Redis is SIGKILLed, stays down 3 s and restarts on its append-only file
            fleet.restart_redis(down_seconds=3)
            effects = fleet.wait_settled(keys, timeout=240)
            # Then each key ran once; and the same 1,000 keys sent again are all skipped
            _assert_exactly_once(fleet, keys, effects)
            fleet.publish(N, prefix="k")
            again = fleet.wait_settled(keys, timeout=120)
        assert again == effects


def test_worker_main_processes_sigkilled_every_few_seconds_apply_each_task_once(tmp_path):
    """Whole workers SIGKILLed every 3 s (and replaced): redelivered after the visibility timeout, once each."""
    with fault_fleet(tmp_path) as fleet:
        # Given three workers
        for _ in range(3):
            fleet.start_worker()

        def kill_one_and_replace() -> None:
            random.choice(fleet.live_workers()).kill()
            fleet.start_worker(wait=False)

        with Repeatedly(0.3, forget_done_keys(fleet)):
            keys = fleet.publish(N, sleep_ms=20)
            # When a worker (main process and children) is SIGKILLed every 3 s for 20 s
            with Repeatedly(3.0, kill_one_and_replace) as killer:
                time.sleep(20)
            assert killer.count >= 4
            effects = fleet.wait_settled(keys, timeout=240)
        # Then
        _assert_exactly_once(fleet, keys, effects, workers_killed=True)


def test_pool_children_sigkilled_mid_task_apply_each_task_once(tmp_path):
    """Pool children SIGKILLed every 1.5 s mid-task for 25 s: each task redelivered and applied once."""
    with fault_fleet(tmp_path) as fleet:
        # Given two workers whose tasks take ~20 ms inside their transaction
        fleet.start_worker()
        fleet.start_worker()

        def kill_a_child() -> None:
            children = [c for w in fleet.live_workers() for c in w.children()]
            random.choice(children).kill()

        with Repeatedly(0.3, forget_done_keys(fleet)):
            keys = fleet.publish(N, sleep_ms=20)
            # When a pool child is SIGKILLed every 1.5 s while the backlog drains
            with Repeatedly(1.5, kill_a_child) as killer:
                time.sleep(25)
            assert killer.count >= 10
            effects = fleet.wait_settled(keys, timeout=180)
        # Then
        _assert_exactly_once(fleet, keys, effects, workers_killed=True)
