"""Migration analytics on real PostgreSQL: event writes, the daily table, the roll-up,
the read-only role, and the sidecar and CLI answers."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from sheen.analytics.events import event, write
from sheen.analytics.rollup import rollup
from tests.conftest import ROOT
from tests.sidecar_support import bearer, make_app, sidecar_settings

READER = "sheen_analytics_reader"


def _user(db) -> uuid.UUID:
    uid = uuid.uuid4()
    with db.begin() as conn:
        conn.execute(text("INSERT INTO auth.users (id) VALUES (:id)"), {"id": uid})
    return uid


def _event(user_id, task_id, event_type, **more):
    fields = {
        "event_type": event_type, "migration_id": more.pop("migration_id", uuid.uuid5(uuid.NAMESPACE_URL, task_id)),
        "user_id": user_id, "task_id": task_id, "job": "migration.run", "attempt": 1,
        "service": "sheen-worker", "environment": "ci", "region": "local",
    }  # fmt: skip
    fields.update(more)
    return event(**fields)


def _seed_history(db, user_id, other_user, days: int = 5) -> None:
    """Migrations of two users over `days` days: steps, retries, a failure every 4th."""
    with db.begin() as conn:
        conn.execute(
            text("""
            INSERT INTO migration_analytics_events
                (event_type, migration_id, user_id, task_id, job, step, attempt,
                 duration_seconds, ai_seconds, error_class, service, environment, region,
                 occurred_at)
            SELECT e.event_type, m.mid, CASE WHEN m.i % 2 = 0 THEN :u ELSE :o END, 't-' || m.i,
                   'migration.run', e.step, e.attempt, e.duration * (1 + m.i % 7), e.ai,
                   e.error_class, 'sheen-worker', 'ci', 'local',
                   now() - ((m.i % :days) * interval '1 day') - interval '1 minute'
            FROM (SELECT i, gen_random_uuid() AS mid FROM generate_series(1, 80) i) m
            CROSS JOIN LATERAL (VALUES
                ('started', '', 1, NULL::float, 0.0, NULL),
                ('step_completed', 'fetch_site', 1, 1.5, 0.0, NULL),
                ('step_completed', 'rewrite_assets', 1, 4.0, 12.0, NULL),
                ('retry', 'deploy', 1, 2.0, 0.0, 'ConnectionError'),
                (CASE WHEN m.i % 4 = 0 THEN 'failed' ELSE 'completed' END,
                 CASE WHEN m.i % 4 = 0 THEN 'deploy' ELSE '' END, 2, 30.0, 12.0,
                 CASE WHEN m.i % 4 = 0 THEN 'MigrationStepFailed' END)
            ) AS e(event_type, step, attempt, duration, ai, error_class)
            """),
            {"u": user_id, "o": other_user, "days": days},
        )


def test_duplicate_events_are_written_once_and_the_table_is_append_only(db):
    """A second write of the same (task, type, attempt, step) is a no-op; UPDATE is refused."""
    # Given a user and one `started` event
    uid = _user(db)
    started = _event(uid, "task-1", "started")
    # When it is written twice (a redelivery)
    first, second = write(db, started), write(db, started)
    # Then one row exists, and the database refuses to change it
    assert (first, second) == (True, False)
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM migration_analytics_events")).scalar() == 1
    with pytest.raises(DBAPIError, match="append-only"), db.begin() as conn:
        conn.execute(text("UPDATE migration_analytics_events SET attempt = 2"))


def test_outcome_carries_the_whole_migration_time_and_ai_seconds(db):
    """`completed` measures from the first `started` and sums every step's AI seconds."""
    # Given a started event 3 s ago and two steps with AI time
    uid = _user(db)
    write(db, _event(uid, "task-2", "started"))
    with db.begin() as conn:
        conn.execute(
            text(
                "ALTER TABLE migration_analytics_events DISABLE TRIGGER migration_analytics_events_append_only"
            )
        )
        conn.execute(
            text("UPDATE migration_analytics_events SET occurred_at = now() - interval '3 seconds'")
        )
        conn.execute(
            text(
                "ALTER TABLE migration_analytics_events ENABLE TRIGGER migration_analytics_events_append_only"
            )
        )
    write(
        db,
        _event(
            uid, "task-2", "step_completed", step="fetch_site", duration_seconds=1.0, ai_seconds=2.5
        ),
    )
    write(
        db,
        _event(
            uid, "task-2", "step_completed", step="deploy", duration_seconds=1.0, ai_seconds=1.5
        ),
    )
    # When the migration completes (this attempt alone took 0.2 s)
    write(db, _event(uid, "task-2", "completed", duration_seconds=0.2))
    # Then its duration spans the whole migration and its AI time is the steps' total
    with db.connect() as conn:
        duration, ai = conn.execute(text(
            "SELECT duration_seconds, ai_seconds FROM migration_analytics_events WHERE event_type = 'completed'"
        )).one()  # fmt: skip
    assert 3.0 <= duration < 10.0
    assert ai == 4.0


def test_blank_database_rolls_up_to_zeros_and_nulls(db):
    """No events: every count is 0, every ratio and percentile null, seven empty days."""
    # Given no events; When the roll-up is read
    found = rollup(db)
    # Then
    assert found.overall.counts.model_dump() == dict.fromkeys(
        ("started", "step_completed", "retry", "completed", "failed"), 0
    )
    assert found.overall.success_pct is None and found.overall.duration_p95_seconds is None
    assert len(found.per_day) == 7 and found.steps == [] and found.failing_steps == []


def test_everyone_rollup_from_the_daily_table_matches_the_raw_events(db):
    """The trigger-kept daily table gives the same roll-up as the events themselves."""
    # Given 80 migrations of one user over 5 days
    uid, other = _user(db), _user(db)
    _seed_history(db, uid, uid)
    # When everyone's roll-up (daily table) and that user's (raw events) are read
    everyone = rollup(db, days=7).model_dump(exclude={"user_id", "generated_at"})
    one = rollup(db, user_id=uid, days=7).model_dump(exclude={"user_id", "generated_at"})
    # Then they agree, and the figures are those seeded
    assert everyone == one
    overall = rollup(db).overall
    assert overall.counts.started == 80 and overall.counts.failed == 20
    assert overall.counts.completed == 60 and overall.counts.retry == 80
    assert overall.success_pct == 75.0 and overall.retries_per_migration == 1.0
    assert overall.ai_seconds_per_migration == 12.0
    assert rollup(db, user_id=other).overall.counts.started == 0


def test_rollup_percentiles_steps_and_failing_steps(db):
    """P50/P95 within one 5 % bucket of the exact value; deploy is the step that fails most."""
    # Given two users' migrations: durations 30 s x (1 + i % 7)
    uid, other = _user(db), _user(db)
    _seed_history(db, uid, other)
    # When one user's roll-up is read
    found = rollup(db, user_id=uid)
    # Then percentiles are close to the exact ones, steps are listed, deploy fails most
    with db.connect() as conn:
        exact = conn.execute(text("""
            SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_seconds),
                   percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_seconds)
            FROM migration_analytics_events WHERE event_type = 'completed' AND user_id = :u
        """), {"u": uid}).one()  # fmt: skip
    assert found.overall.duration_p50_seconds == pytest.approx(exact[0], rel=0.06)
    assert found.overall.duration_p95_seconds == pytest.approx(exact[1], rel=0.06)
    assert [s.step for s in found.steps] == ["deploy", "fetch_site", "rewrite_assets"]
    assert found.steps[0].completed == 0 and found.steps[0].duration_p95_seconds is None
    assert found.steps[2].ai_seconds == 12.0 * found.steps[2].completed
    assert found.failing_steps[0].step == "deploy"
    assert found.failing_steps[0].failures == found.overall.counts.failed
    assert sum(d.counts.started for d in found.per_day) == 40


def test_the_reader_role_reads_but_cannot_write(db):
    """sheen_analytics_reader (migration 0008) may SELECT the analytics tables only."""
    # Given the role the migration created; When it reads and then tries to write
    uid = _user(db)
    write(db, _event(uid, "task-3", "started"))
    found = rollup(db, role=READER)
    # Then it reads, and writing (or reading job_runs) is refused
    assert found.overall.counts.started == 1
    for statement in (
        "INSERT INTO migration_analytics_daily (day, event_type, step, bucket) VALUES (now(), 'x', '', 0)",
        "SELECT count(*) FROM job_runs",
    ):
        with pytest.raises(DBAPIError, match="permission denied"), db.begin() as conn:
            conn.execute(text(f"SET LOCAL ROLE {READER}"))
            conn.execute(text(statement))


def test_sidecar_rollup_and_health_answer_read_only(db):
    """The endpoints need admin:read, refuse a bad userId, and read as the reader role."""
    # Given a sidecar that reads as the reader role, and one user's migrations
    settings = sidecar_settings(analytics_db_role=READER)
    uid, other = _user(db), _user(db)
    client = make_app(settings).test_client()
    headers = bearer(settings, "admin:read")
    blank = client.get("/api/migration-analytics/rollup", headers=headers)
    _seed_history(db, uid, other)
    # When the API is read
    everyone = client.get("/api/migration-analytics/rollup?days=7", headers=headers)
    mine = client.get(f"/api/migration-analytics/rollup?userId={uid}&days=3", headers=headers)
    health = client.get("/api/migration-analytics/health", headers=headers)
    # Then
    assert blank.status_code == 200 and blank.get_json()["overall"]["success_pct"] is None
    assert everyone.get_json()["overall"]["counts"]["started"] == 80
    body = mine.get_json()
    assert body["user_id"] == str(uid) and len(body["per_day"]) == 3
    assert body["overall"]["counts"]["started"] < 40
    assert health.status_code == 200
    assert health.get_json()["role"] == READER and health.get_json()["read_only"] is True
    assert (
        client.get(
            "/api/migration-analytics/rollup?userId=ana@example.com", headers=headers
        ).status_code
        == 400
    )
    assert client.get("/api/migration-analytics/rollup?days=0", headers=headers).status_code == 400
    assert client.get("/api/migration-analytics/rollup").status_code == 401


def test_dashboard_shows_the_migrations_panel(db):
    """The dashboard page includes the migrations panel with the week's figures."""
    # Given one user's migrations
    settings = sidecar_settings()
    uid, other = _user(db), _user(db)
    _seed_history(db, uid, other)
    # When the dashboard is drawn
    page = (
        make_app(settings)
        .test_client()
        .get("/", headers={**bearer(settings, "admin:read"), "Accept": "text/html"})
    )
    # Then the panel shows the counts and the steps
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'id="migrations"' in html and "<td>80</td>" in html
    assert 'data-step="rewrite_assets"' in html


def test_cli_rollup_json_and_table(db, services):
    """`sheen-ops analytics rollup --json` prints the roll-up; a bad --user is exit 2."""
    # Given one user's migrations
    uid, other = _user(db), _user(db)
    _seed_history(db, uid, other)
    argv = [str(Path(sys.executable).with_name("sheen-ops"))]
    run = lambda *a: subprocess.run(  # noqa: E731
        [*argv, "analytics", "rollup", *a], cwd=ROOT, env=services.env(),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    # When the CLI is run
    as_json, table, bad = run("--user", str(uid), "--json"), run("--days", "2"), run("--user", "x")
    # Then
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["overall"]["counts"]["started"] == 40
    assert table.returncode == 0 and "every user" in table.stdout and "STARTED" in table.stdout
    assert bad.returncode == 2


def test_rollup_window_is_utc_days_including_today(db):
    """days=1 covers today (UTC) only; days=5 covers all five seeded days."""
    # Given 80 migrations spread over the last 5 days
    uid = _user(db)
    _seed_history(db, uid, uid, days=5)
    now = datetime.now(UTC)
    # When the roll-up of today alone and of 5 days is read
    today, five = rollup(db, days=1, now=now), rollup(db, days=5, now=now)
    # Then today is one UTC day holding a fifth of them at most; five days hold them all
    assert today.since == now.date() and len(today.per_day) == 1
    assert today.overall.counts.started <= 16
    assert five.overall.counts.started == 80 or now.hour == 0


def test_sql_buckets_match_the_python_bounds(db):
    """sheen_analytics_bucket (SQL) puts each duration in the bucket bucket_range says."""
    from sheen.analytics.rollup import bucket_range

    values = [0.0, 0.0005, 0.0011, 0.25, 1.0, 3.7, 59.9, 600.0, 86400.0]
    with db.connect() as conn:
        buckets = [
            conn.execute(text("SELECT sheen_analytics_bucket(:v)"), {"v": v}).scalar()
            for v in values
        ]
    for value, bucket in zip(values, buckets, strict=True):
        lower, upper = bucket_range(bucket)
        assert lower <= value < upper, (value, bucket)
