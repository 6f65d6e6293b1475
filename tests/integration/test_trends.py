"""Trends from the roll-ups: runs, failures and dead letters land in the right hour and day
buckets; queue-depth samples cover the last hour only; the API returns the same numbers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import redis
from sqlalchemy import text

from sheen.deadletters import DeadLetter
from sheen.services.state_sources import dead_letter_registry
from sheen.services.trends import QUEUE_KEY, job_trends, queue_trends, record_queue_depths
from tests.sidecar_support import bearer, clean_broker, make_app, sidecar_settings

NOW = datetime.now(UTC) - timedelta(seconds=5)
JOB = "jobs.trend_probe"


@pytest.fixture
def settings(db, services):
    clean_broker(services)
    return sidecar_settings()


def insert_runs(engine, rows: list[tuple[datetime, str]]) -> None:
    with engine.begin() as conn:
        for started, status in rows:
            conn.execute(
                text("""INSERT INTO job_runs (job, task_id, idempotency_key, status, started_at,
                        finished_at, duration_seconds, error)
                        VALUES (:job, :t, :t, :status, :at, :at, 1.0, :error)"""),
                {"job": JOB, "t": f"trend-{uuid.uuid4().hex}", "status": status, "at": started,
                 "error": None if status == "success" else "boom"},
            )  # fmt: skip


def test_runs_failures_and_dead_letters_per_hour_and_day(settings, db):
    """Given runs and dead letters at known times, each lands in its hour and its UTC day."""
    # Given: 3 runs (1 failure, 1 timeout) this hour, 2 runs 5 hours ago, 4 runs 3 days ago
    insert_runs(db, [(NOW, "success"), (NOW, "failure"), (NOW, "timeout")])
    insert_runs(db, [(NOW - timedelta(hours=5), "success")] * 2)
    insert_runs(db, [(NOW - timedelta(days=3), "failure")] * 4)
    registry = dead_letter_registry(settings)
    for hours_ago in (0, 0, 5):
        at = (NOW - timedelta(hours=hours_ago)).timestamp()
        registry.add(DeadLetter(task=JOB, reason="permanent", dead_lettered_at=at))
    # When
    (trend,) = [t for t in job_trends(db, registry.client, [JOB], NOW) if t.job == JOB]
    # Then: the last hourly bucket is the current hour
    assert len(trend.hourly) == 24 and len(trend.daily) == 7
    assert (trend.hourly[-1].runs, trend.hourly[-1].failures, trend.hourly[-1].dead_letters) == (
        3,
        2,
        2,
    )
    assert (trend.hourly[-6].runs, trend.hourly[-6].failures, trend.hourly[-6].dead_letters) == (
        2,
        0,
        1,
    )
    assert sum(b.runs for b in trend.hourly) == 5  # the 3-day-old runs are outside 24 h
    # and days add up by UTC day
    days = {b.start.date(): b for b in trend.daily}
    assert days[(NOW - timedelta(days=3)).date()].failures == 4
    assert sum(b.runs for b in trend.daily) == 9
    assert sum(b.dead_letters for b in trend.daily) == 3


def test_queue_depth_keeps_the_last_hour(settings, services):
    """Given samples 90, 30 and 1 minutes old, the trend shows the last two, oldest first."""
    # Given
    client = redis.Redis.from_url(services.redis_url)
    client.delete(QUEUE_KEY.format(server_id=settings.server_key))
    for minutes, depth in ((90, 9), (30, 4), (1, 6)):
        record_queue_depths(
            client, settings, lambda d=depth: {"jobs": d}, NOW - timedelta(minutes=minutes)
        )
    # When
    (jobs,) = [q for q in queue_trends(client, settings, NOW) if q.queue == "jobs"]
    # Then
    assert [p.depth for p in jobs.points] == [4, 6]


def test_api_trends_serves_the_same_numbers(settings, db, celery_app):
    """Given runs this hour, GET /api/trends (admin:read) reports them in its last bucket."""
    # Given
    insert_runs(db, [(datetime.now(UTC), "success")] * 2)
    client = make_app(settings).test_client()
    # When
    response = client.get("/api/trends", headers=bearer(settings, "admin:read"))
    # Then
    assert response.status_code == 200, response.json
    job = next(j for j in response.json["jobs"] if j["job"] == JOB)
    assert job["hourly"][-1]["runs"] == 2
    assert client.get("/api/trends").status_code == 401
