"""Daily reset and ghost detection on 1,000,000 users / 100,000 builds, through a real worker.

Baseline, in the same run and database: one plain UPDATE of the same rows on an
identical copy of the balances table (same indexes, freshly vacuumed).
"""

from __future__ import annotations

import subprocess
import threading
import time
from datetime import UTC, date, datetime, timedelta

import psutil
from sqlalchemy import text

from benchmarks.common import BenchEnv, Figure
from sheen.db.engine import get_engine
from sheen.devserver import celery

USERS = 1_000_000
BUILDS = 100_000
ACTIVE_SHARE = 4  # one user in four used AI time yesterday (gets an audit row at reset)
DAY = date(2026, 11, 25)


def _seed(engine) -> None:
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
            INSERT INTO ai_time_balances (user_id, plan, daily_used_seconds, usage_day, bonus_day)
            SELECT id, 'free', CASE WHEN random() < 1.0 / :share THEN 120 ELSE 0 END, :d, :d
            FROM auth.users
        """),
            {"share": ACTIVE_SHARE, "d": DAY - timedelta(days=1)},
        )
        conn.execute(
            text("""
            INSERT INTO builds (id, project_id, user_id, status, started_at, last_heartbeat_at, reserved_ai_seconds)
            SELECT gen_random_uuid(), gen_random_uuid(), user_id, 'building', :hb, :hb, 30
            FROM ai_time_balances ORDER BY user_id LIMIT :n
        """),
            {"n": BUILDS, "hb": datetime(2026, 11, 25, 10, tzinfo=UTC)},
        )
        conn.execute(text("CREATE TABLE bench_baseline (LIKE ai_time_balances INCLUDING ALL)"))
        conn.execute(text("INSERT INTO bench_baseline SELECT * FROM ai_time_balances"))
    _vacuum(engine)


def _vacuum(engine) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))


def _baseline_seconds(engine) -> float:
    began = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE bench_baseline SET daily_used_seconds = 0, usage_day = :d, updated_at = now()"
            ),
            {"d": DAY},
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


def _worker(env: BenchEnv, log) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        celery(
            "worker",
            "--pool",
            "prefork",
            "-c",
            "1",
            "-Q",
            "jobs",
            "--without-mingle",
            "--without-gossip",
            "-n",
            "bench-jobs@%h",
            "-l",
            "INFO",
        ),
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


def _run_job(app, name: str, kwargs: dict[str, object]) -> tuple[float, dict[str, object]]:
    began = time.perf_counter()
    value = app.send_task(name, kwargs=kwargs).get(timeout=600)
    return time.perf_counter() - began, value


def run(env: BenchEnv) -> list[Figure]:
    engine = get_engine()
    _seed(engine)
    baseline = _baseline_seconds(engine)
    from workers.app import app

    with (env.tmp / "jobs-worker.log").open("wb") as log:
        worker = _worker(env, log)
        try:
            with PeakRss(worker.pid) as rss:
                reset_s, reset = _run_job(app, "jobs.daily_reset", {"day": DAY.isoformat()})
                ghost_s, ghost = _run_job(
                    app, "jobs.ghost_build_detection", {"as_of": "2026-11-25T12:00:00+00:00"}
                )
        finally:
            worker.terminate()
            worker.wait(30)
    assert reset["affected"] == USERS and ghost["affected"] == BUILDS, (reset, ghost)
    return [
        Figure("baseline: one plain UPDATE of 1,000,000 rows", baseline, "s"),
        Figure("jobs.daily_reset 1,000,000 rows", reset_s, "s", f"{reset['batches']} batches"),
        Figure("jobs.daily_reset rows/s", USERS / reset_s, "rows/s"),
        Figure("jobs.daily_reset / baseline", reset_s / baseline, "x", "target <= 1.5"),
        Figure("jobs.ghost_build_detection 100,000 builds", ghost_s, "s"),
        Figure("jobs.ghost_build_detection rows/s", BUILDS / ghost_s, "rows/s"),
        Figure("peak worker RSS (largest process)", rss.peak / 2**20, "MiB", "target < 300"),
    ]
