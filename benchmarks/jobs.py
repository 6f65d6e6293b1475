"""Daily reset vs one plain UPDATE, interleaved rounds on identical fresh tables; ghost detection.

Each round, in this order:
- baseline: a fresh copy of the seeded balances (same columns and indexes, rows
  inserted anew, VACUUM ANALYZE, CHECKPOINT), then one plain UPDATE of every row;
- job: ai_time_balances reloaded the same way from the same seed (usage_events
  emptied), then `jobs.daily_reset` through a real worker (keyset batches, the
  audit rows for the users who used time, the done-mark in the last batch), for a
  day of its own so each round does the whole work.
The figure is the median of the per-round ratios job / UPDATE (wall clock, as the
target is stated) with min-max; PostgreSQL's CPU (the postmaster's whole process
tree) is reported beside it. Peak worker RSS is sampled throughout.

BENCH_JOBS_USERS=10000000 runs the same at ten million users (about 25 minutes).
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from datetime import UTC, date, datetime, timedelta
from typing import IO, Any

import psutil
from sqlalchemy import Engine, text

from benchmarks.common import BenchEnv, Figure
from benchmarks.measure import Comparison, ProcessTree, compare, scaled
from sheen.db.engine import get_engine
from sheen.devserver import celery

USERS = int(os.environ.get("BENCH_JOBS_USERS") or scaled(1_000_000, 100_000))
BUILDS = USERS // 10
ROUNDS = scaled(3, 3)
ACTIVE_SHARE = 4  # one user in four used AI time yesterday (gets an audit row at reset)
DAY = date(2026, 11, 25)
TARGET = 1.5
MARGIN = 0.1
WORKER_ARGS = (
    "worker", "--pool", "prefork", "-c", "1", "-Q", "jobs", "--without-mingle",
    "--without-gossip", "-n", "bench-jobs@%h", "-l", "INFO",
)  # fmt: skip


def _autocommit(engine: Engine, *statements: str) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for statement in statements:
            conn.execute(text(statement))


def _seed(engine: Engine) -> None:
    """The seed, kept in bench_pristine; every round copies from it."""
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO plans VALUES ('free', 600, 120, 1200) ON CONFLICT DO NOTHING")
        )
        conn.execute(
            text(
                "INSERT INTO auth.users (id) SELECT gen_random_uuid() FROM generate_series(1, :n)"
            ),
            {"n": USERS},
        )
        conn.execute(
            text("""
            CREATE TABLE bench_pristine AS
            SELECT id AS user_id, 'free'::text AS plan,
                   CASE WHEN random() < 1.0 / :share THEN 120 ELSE 0 END AS daily_used_seconds,
                   CAST(:d AS date) AS usage_day, 0 AS daily_bonus_seconds,
                   CAST(:d AS date) AS bonus_day, 0 AS monthly_bonus_used_seconds,
                   now() AS updated_at
            FROM auth.users
        """),
            {"share": ACTIVE_SHARE, "d": DAY - timedelta(days=1)},
        )
        conn.execute(text("INSERT INTO ai_time_balances SELECT * FROM bench_pristine"))
        conn.execute(
            text("""
            INSERT INTO builds (id, project_id, user_id, status, started_at, last_heartbeat_at, reserved_ai_seconds)
            SELECT gen_random_uuid(), gen_random_uuid(), user_id, 'building', :hb, :hb, 30
            FROM bench_pristine ORDER BY user_id LIMIT :n
        """),
            {"n": BUILDS, "hb": datetime(2026, 11, 25, 10, tzinfo=UTC)},
        )


def _fresh_baseline(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS bench_baseline"))
        conn.execute(text("CREATE TABLE bench_baseline (LIKE ai_time_balances INCLUDING ALL)"))
        conn.execute(text("INSERT INTO bench_baseline SELECT * FROM bench_pristine"))
    _autocommit(engine, "VACUUM ANALYZE bench_baseline", "CHECKPOINT")


def _fresh_balances(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE usage_events, ai_time_balances"))
        conn.execute(text("INSERT INTO ai_time_balances SELECT * FROM bench_pristine"))
    _autocommit(
        engine, "VACUUM ANALYZE ai_time_balances", "VACUUM ANALYZE usage_events", "CHECKPOINT"
    )


def _baseline_seconds(engine: Engine, day: date) -> float:
    began = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE bench_baseline SET daily_used_seconds = 0, usage_day = :d, updated_at = now()"
            ),
            {"d": day},
        )
    return time.perf_counter() - began


class PeakRss:
    """Samples the worker's processes every 20 ms; keeps the largest single-process RSS."""

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            for proc in [self.root, *self.root.children(recursive=True)]:
                try:
                    self.peak = max(self.peak, proc.memory_info().rss)
                except psutil.NoSuchProcess:
                    continue

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def _worker(env: BenchEnv, log: IO[bytes]) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        celery(*WORKER_ARGS),
        env=env.environ(SHEEN_LOG_LEVEL="INFO"),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while b" ready." not in (env.tmp / "jobs-worker.log").read_bytes():
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError("bench worker did not start")
        time.sleep(0.1)
    return proc


def _run_job(app: Any, name: str, kwargs: dict[str, object]) -> tuple[float, dict[str, Any]]:
    began = time.perf_counter()
    value = app.send_task(name, kwargs=kwargs, ignore_result=False).get(timeout=3600)
    return time.perf_counter() - began, value


def _postmaster(env: BenchEnv) -> ProcessTree:
    pid = int((env.postgres.data_dir / "postmaster.pid").read_text().split()[0])
    return ProcessTree(pid)


def _ratio(name: str, cmp: Comparison, note: str) -> Figure:
    return Figure(name, cmp.median, "x", f"{cmp.summary()}; {note}")


def run(env: BenchEnv) -> list[Figure]:
    engine = get_engine()
    _seed(engine)
    postgres = _postmaster(env)
    from workers.app import app

    baseline_s: list[float] = []
    job_s: list[float] = []
    baseline_cpu: list[float] = []
    job_cpu: list[float] = []
    batches = 0
    with (env.tmp / "jobs-worker.log").open("wb") as log:
        worker = _worker(env, log)
        try:
            with PeakRss(worker.pid) as rss:
                for rnd in range(ROUNDS):
                    day = DAY + timedelta(days=rnd)
                    _fresh_baseline(engine)
                    before = postgres.cpu()
                    baseline_s.append(_baseline_seconds(engine, day))
                    baseline_cpu.append((postgres.cpu() - before).total)
                    _fresh_balances(engine)
                    before = postgres.cpu()
                    seconds, reset = _run_job(app, "jobs.daily_reset", {"day": day.isoformat()})
                    job_cpu.append((postgres.cpu() - before).total)
                    job_s.append(seconds)
                    assert reset["affected"] == USERS, reset
                    batches = int(reset["batches"])
                    print(
                        f"  round {rnd + 1}: UPDATE {baseline_s[-1]:.2f} s, daily_reset "
                        f"{seconds:.2f} s ({seconds / baseline_s[-1]:.2f}x; PostgreSQL CPU "
                        f"{baseline_cpu[-1]:.2f} s vs {job_cpu[-1]:.2f} s)",
                        flush=True,
                    )
                ghost_s, ghost = _run_job(
                    app, "jobs.ghost_build_detection", {"as_of": "2026-11-25T12:00:00+00:00"}
                )
        finally:
            worker.terminate()
            worker.wait(30)
    assert ghost["affected"] == BUILDS, ghost
    wall = compare(job_s, baseline_s, target=TARGET, margin=MARGIN)
    cpu = compare(job_cpu, baseline_cpu, target=TARGET, margin=MARGIN)
    median_job = sorted(job_s)[len(job_s) // 2]
    return [
        Figure(
            f"baseline: one plain UPDATE of {USERS:,} rows", sorted(baseline_s)[1], "s", "median"
        ),
        Figure(f"jobs.daily_reset {USERS:,} rows", median_job, "s", f"median; {batches} batches"),
        Figure("jobs.daily_reset rows/s", USERS / median_job, "rows/s"),
        _ratio("jobs.daily_reset / UPDATE, wall", wall, "the target"),
        _ratio("jobs.daily_reset / UPDATE, PostgreSQL CPU", cpu, "for reference"),
        Figure(f"jobs.ghost_build_detection {BUILDS:,} builds", ghost_s, "s"),
        Figure("jobs.ghost_build_detection rows/s", BUILDS / ghost_s, "rows/s"),
        Figure("peak worker RSS (largest process)", rss.peak / 2**20, "MiB", "target < 300"),
    ]
