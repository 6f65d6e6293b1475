"""Scheduled jobs on a real worker: killed half-way they resume and apply nothing twice."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest
from sqlalchemy import text

from sheen.services.job_runs import runs_for_task
from tests.factories import seed_artifacts, seed_builds, seed_users

DAY = date(2026, 11, 25)
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Case:
    job: str
    kwargs: dict[str, object]
    lock_sql: str  # locks the one row (OFFSET under FOR UPDATE would lock every skipped row too)

    done_sql: str  # rows the job has finished
    total: int
    audit_sql: str  # audit rows written: exactly one per finished row


def _seed(case_job: str, engine) -> None:
    if case_job in ("jobs.daily_reset", "jobs.daily_bonus_reset"):
        seed_users(engine, 10_001, DAY - timedelta(days=1), used_seconds=120)
    elif case_job == "jobs.ghost_build_detection":
        seed_users(engine, 10_001, DAY, used_seconds=120)
        seed_builds(engine, 10_001, NOW - timedelta(hours=1))
    else:
        seed_users(engine, 1, DAY)
        seed_artifacts(engine, projects=1001, per_project=10, newest=NOW)


CASES = [
    Case(
        "jobs.daily_reset",
        {"day": DAY.isoformat(), "batch_size": 1000},
        "SELECT 1 FROM ai_time_balances WHERE user_id = (SELECT user_id FROM ai_time_balances ORDER BY user_id OFFSET 5500 LIMIT 1) FOR UPDATE",
        "SELECT count(*) FROM ai_time_balances WHERE usage_day = '2026-11-25'",
        10_001,
        "SELECT count(*), count(DISTINCT user_id) FROM usage_events WHERE kind = 'daily_reset'",
    ),
    Case(
        "jobs.daily_bonus_reset",
        {"day": DAY.isoformat(), "batch_size": 1000},
        "SELECT 1 FROM ai_time_balances WHERE user_id = (SELECT user_id FROM ai_time_balances ORDER BY user_id OFFSET 5500 LIMIT 1) FOR UPDATE",
        "SELECT count(*) FROM ai_time_balances WHERE bonus_day = '2026-11-25'",
        10_001,
        "SELECT count(*), count(DISTINCT user_id) FROM usage_events WHERE kind = 'bonus_reset'",
    ),
    Case(
        "jobs.ghost_build_detection",
        {"as_of": NOW.isoformat(), "batch_size": 1000},
        "SELECT 1 FROM builds WHERE id = (SELECT id FROM builds ORDER BY id OFFSET 5500 LIMIT 1) FOR UPDATE",
        "SELECT count(*) FROM builds WHERE status = 'failed'",
        10_001,
        "SELECT count(*), count(DISTINCT build_id) FROM project_build_events WHERE reason = 'ghost'",
    ),
    Case(
        "jobs.cleanup_artifacts",
        {"as_of": NOW.isoformat(), "batch_size": 1000, "retention_days": 1, "keep_latest": 2},
        "SELECT 1 FROM build_artifacts WHERE id = (SELECT id FROM build_artifacts WHERE created_at < '2026-11-23' ORDER BY id OFFSET 4400 LIMIT 1) FOR UPDATE",
        "SELECT count(*) FROM build_artifacts WHERE soft_deleted_at IS NOT NULL",
        8_008,
        "SELECT count(*), count(*) FROM build_artifacts WHERE soft_deleted_at = '2026-11-25T12:00Z'",
    ),
]


def _count(engine, sql: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql)).scalar_one())


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _blocked_backend_pid(services) -> int | None:
    with psycopg.connect(services.database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
        ).fetchone()
    return row[0] if row else None


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.job)
def test_sigkill_half_way_then_resume_applies_everything_once(
    db, services, start_worker, celery_app, case
):
    """A worker child SIGKILLed mid-job: the job is redelivered, finishes, and each row changes once."""
    # Given the rows, and a row half-way through the key order held locked by the test
    _seed(case.job, db)
    holder = psycopg.connect(services.database_url)
    holder.execute(case.lock_sql)
    worker = start_worker(concurrency=2)
    # When the job runs until it blocks on that row, and its pool child is SIGKILLed
    result = celery_app.send_task(case.job, kwargs=case.kwargs)
    _wait(
        lambda: _blocked_backend_pid(services) is not None, 60, "the job to block on the held row"
    )
    half = _count(db, case.done_sql)
    assert 0 < half < case.total, "the job must be killed half-way"
    active = celery_app.control.inspect(
        destination=[worker.name.replace("%h", os.uname().nodename)]
    ).active()
    child_pid = next(t["worker_pid"] for tasks in active.values() for t in tasks)
    os.kill(child_pid, signal.SIGKILL)
    # Then, once the row is released, the redelivered job finishes the rest
    _wait(
        lambda: _blocked_backend_pid(services) is not None, 60, "the redelivered job to block again"
    )
    holder.rollback()
    holder.close()
    value = result.get(timeout=60)
    assert _count(db, case.done_sql) == case.total
    with db.connect() as conn:
        audits, distinct = conn.execute(text(case.audit_sql)).one()
    assert audits == distinct == case.total, "each row is changed and audited exactly once"
    assert value["affected"] == case.total - half, "the second delivery skipped what the first did"
    statuses = [r["status"] for r in runs_for_task(db, result.id)]
    assert statuses[0] == "failure" and statuses[-1] == "success"


@pytest.mark.parametrize(
    "job",
    [
        "jobs.daily_reset",
        "jobs.ghost_build_detection",
        "jobs.daily_bonus_reset",
        "jobs.cleanup_artifacts",
    ],
)
def test_malformed_payload_is_refused_and_changes_nothing(db, start_worker, celery_app, job):
    """A payload with a bad field fails with a one-line reason naming it; no row changes."""
    seed_users(db, 100, DAY - timedelta(days=1))
    start_worker(concurrency=1)
    bad = {"day": "yesterday"} if "daily" in job else {"as_of": "not-a-time"}
    result = celery_app.send_task(job, kwargs=bad)
    with pytest.raises(Exception) as err:
        result.get(timeout=30)
    assert type(err.value).__name__ == "PayloadError"
    assert ("day" in str(err.value)) or ("as_of" in str(err.value))
    assert "\n" not in str(err.value)
    assert _count(db, "SELECT count(*) FROM ai_time_balances WHERE usage_day = '2026-11-25'") == 0
    assert _count(db, "SELECT count(*) FROM usage_events") == 0
