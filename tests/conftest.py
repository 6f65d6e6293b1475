"""Test services: real Redis and PostgreSQL, real Celery worker processes.

Without `SHEEN_TEST_REDIS_URL` / `SHEEN_TEST_DATABASE_URL` the test run starts its
own embedded instances on free ports in a temporary folder, so tests never touch
the machine's shared services. Given URLs must point at disposable servers.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest
import redis
from sqlalchemy import text

from sheen.db.engine import dispose_engines, get_engine
from sheen.db.migrate import upgrade
from sheen.deadletters import registry as dlq
from sheen.devserver import celery
from sheen.embedded import EmbeddedPostgres, EmbeddedRedis, free_port
from sheen.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]
DATA_TABLES = (
    "usage_events",
    "project_build_events",
    "build_artifacts",
    "builds",
    "ai_time_balances",
    "plans",
    "auth.users",
    "job_runs",
    "job_done_keys",
    "dead_letter_audit",
    "cleanup_audit_log",
    "artifact_recovery_log",
    "audit_chain_heads",
    "verified_releases",
    "migration_verification_runs",
    "migration_verification_results",
    "appeal_tickets",
    "trust_safety_notifications",
    "migration_analytics_events",  # its TRUNCATE trigger empties migration_analytics_daily
)


@dataclass
class Services:
    redis_base: str
    database_url: str
    state_dir: Path

    @property
    def broker_url(self) -> str:
        return f"{self.redis_base}/0"

    @property
    def redis_url(self) -> str:
        return f"{self.redis_base}/1"

    def env(self, **overrides: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHEEN_")}
        env.update(
            SHEEN_ENV="ci",
            SHEEN_BROKER_URL=self.broker_url,
            SHEEN_REDIS_URL=self.redis_url,
            SHEEN_DATABASE_URL=self.database_url,
            SHEEN_STATE_DIR=str(self.state_dir),
            SHEEN_LOG_FORMAT="console",
        )
        env.update(overrides)
        return env


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    """Redis and a migrated PostgreSQL database for the whole session."""
    started: list[EmbeddedRedis | EmbeddedPostgres] = []
    redis_base = os.environ.get("SHEEN_TEST_REDIS_URL", "").rstrip("/")
    database_url = os.environ.get("SHEEN_TEST_DATABASE_URL", "")
    tmp = tmp_path_factory.mktemp("services")
    if not redis_base:
        r = EmbeddedRedis(tmp / "redis", free_port()).start()
        started.append(r)
        redis_base = r.url
    if not database_url:
        pg = EmbeddedPostgres(tmp / "pg", free_port(), database="sheen_test", durable=False).start()
        started.append(pg)
        database_url = pg.url
    svc = Services(redis_base, database_url, tmp / "state")
    os.environ.update(svc.env())
    load_settings.cache_clear()
    upgrade(load_settings().sqlalchemy_url)
    try:
        yield svc
    finally:
        gc.collect()  # pending AsyncResults unsubscribe while Redis is still up
        dispose_engines()
        for service in reversed(started):
            service.stop()


@pytest.fixture
def db(services: Services) -> Iterator[object]:
    """A clean database (all data tables emptied) and state Redis for one test."""
    engine = get_engine()
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL lock_timeout = '10s'"))  # a leaked transaction fails fast
        conn.execute(text(f"TRUNCATE {', '.join(DATA_TABLES)} RESTART IDENTITY CASCADE"))
    redis.Redis.from_url(services.redis_url).flushdb()
    # Dead letters live on the broker (beside its queues, which must survive): clear only them.
    broker = redis.Redis.from_url(services.broker_url)
    stale = [dlq.QUEUE, *broker.scan_iter(match="sheen:dlq:*", count=1000)]
    broker.delete(*stale)
    yield engine


@dataclass
class WorkerProcess:
    """A real `celery -A workers.app worker` subprocess and its log."""

    proc: subprocess.Popen[bytes]
    log_path: Path
    name: str
    _log_offset: int = field(default=0)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, needle: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.log():
                return
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"worker exited ({self.proc.returncode}):\n{self.log()[-3000:]}"
                )
            time.sleep(0.05)
        raise AssertionError(
            f"{needle!r} not in worker log after {timeout} s:\n{self.log()[-3000:]}"
        )

    def children(self) -> list[psutil.Process]:
        return psutil.Process(self.proc.pid).children()

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        """SIGKILL the main process and its pool children, as a crash would."""
        procs = [*self.children()]
        self.proc.kill()
        self.proc.wait()
        for child in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()


@pytest.fixture
def start_worker(services: Services, tmp_path: Path) -> Iterator[object]:
    """Factory: start a real worker (prefork) with extra SHEEN_* env; all stopped at teardown."""
    workers: list[WorkerProcess] = []

    def start(
        concurrency: int = 2,
        pool: str = "prefork",
        wait: bool = True,
        extra_args: tuple[str, ...] = (),
        **env: str,
    ) -> WorkerProcess:
        name = f"w{len(workers)}-{os.getpid()}@%h"
        log_path = tmp_path / f"worker{len(workers)}.log"
        argv = celery(
            "worker", "--pool", pool, "-c", str(concurrency), "-n", name, "-Q", "jobs",
            "--without-mingle", "--without-gossip", *extra_args,
        )  # fmt: skip
        with log_path.open("wb") as out:
            proc = subprocess.Popen(
                argv, cwd=ROOT, env=services.env(**env), stdout=out, stderr=subprocess.STDOUT
            )
        worker = WorkerProcess(proc, log_path, name)
        workers.append(worker)
        if wait:
            worker.wait_for_log(" ready.")
        return worker

    yield start
    for worker in workers:
        worker.stop()


@pytest.fixture
def celery_app(services: Services) -> Iterator[object]:
    """The real app, configured for the test services, for publishing and reading results."""
    from workers.app import app

    app.conf.update(broker_url=services.broker_url, result_backend=services.redis_url)
    with app.connection_for_write() as conn:
        conn.default_channel.client.delete("jobs")
    yield app
