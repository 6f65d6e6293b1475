"""Ghost-build detection and artifact cleanup against real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text

from sheen.artifacts.soft_delete import soft_delete_stale
from sheen.services.builds import fail_ghost_builds
from tests.factories import seed_artifacts, seed_builds, seed_users

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
THRESHOLD = timedelta(minutes=15)


def scalar(engine, sql, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


def test_ghost_builds_fail_refund_and_record(db):
    """Silent builds fail with reason ghost, reserved time goes back, both audits record it."""
    # Given 10,001 silent builds (used 100 s each, 30 s reserved) and 5 healthy ones
    seed_users(db, 10_006, NOW.date(), used_seconds=100)
    seed_builds(db, 10_001, NOW - timedelta(minutes=20))
    with db.begin() as conn:
        conn.execute(
            text(
                "UPDATE builds SET last_heartbeat_at = :hb WHERE id IN "
                "(SELECT id FROM builds ORDER BY id LIMIT 5)"
            ),
            {"hb": NOW - timedelta(minutes=1)},
        )
    # When
    totals = fail_ghost_builds(db, NOW, THRESHOLD, "w1", batch_size=1000)
    # Then
    assert totals.affected == 9_996
    assert totals.batches == 11
    assert (
        scalar(
            db, "SELECT count(*) FROM builds WHERE status = 'failed' AND failure_reason = 'ghost'"
        )
        == 9_996
    )
    assert (
        scalar(db, "SELECT count(*) FROM ai_time_balances WHERE daily_used_seconds = 70") == 9_996
    )
    assert scalar(db, "SELECT count(*) FROM project_build_events WHERE reason = 'ghost'") == 9_996
    assert (
        scalar(db, "SELECT sum(seconds) FROM usage_events WHERE kind = 'ghost_refund'")
        == 9_996 * 30
    )


def test_ghost_detection_is_idempotent_for_its_window(db):
    """The same window run twice refunds once."""
    seed_users(db, 50, NOW.date(), used_seconds=100)
    seed_builds(db, 50, NOW - timedelta(hours=1))
    fail_ghost_builds(db, NOW, THRESHOLD, "w1", batch_size=7)
    again = fail_ghost_builds(db, NOW, THRESHOLD, "w1", batch_size=7)
    assert again.affected == 0
    assert scalar(db, "SELECT count(*) FROM usage_events") == 50
    assert scalar(db, "SELECT min(daily_used_seconds) FROM ai_time_balances") == 70


def test_ghost_detection_leaves_finished_builds_alone(db):
    """Deployed and failed builds are never touched, however old their heartbeat."""
    seed_users(db, 4, NOW.date())
    seed_builds(db, 4, NOW - timedelta(days=2), status="deployed")
    assert fail_ghost_builds(db, NOW, THRESHOLD, "w1", batch_size=10).affected == 0


def test_cleanup_keeps_latest_and_recent_artifacts(db):
    """Past retention and not among the latest N of its project: soft-deleted; others kept."""
    # Given 3 projects with 10 daily artifacts each, the newest today
    seed_users(db, 1, date(2026, 11, 25))
    seed_artifacts(db, projects=3, per_project=10, newest=NOW)
    # When retention is 3 days and the latest 5 are kept
    totals = soft_delete_stale(db, NOW, timedelta(days=3), keep_latest=5, batch_size=4)
    # Then artifacts 6..10 days old (5 per project) go; the latest 5 stay even past retention
    assert totals.affected == 15
    kept_oldest = scalar(
        db,
        "SELECT max(:now - created_at) FROM build_artifacts WHERE soft_deleted_at IS NULL",
        now=NOW,
    )
    assert kept_oldest == timedelta(days=4)
    again = soft_delete_stale(db, NOW, timedelta(days=3), keep_latest=5, batch_size=4)
    assert again.affected == 0


def test_cleanup_batches_over_many_rows(db):
    """10,010 artifacts in batches of 1,000: every stale one found exactly once."""
    seed_users(db, 1, date(2026, 11, 25))
    seed_artifacts(db, projects=1001, per_project=10, newest=NOW)
    totals = soft_delete_stale(db, NOW, timedelta(days=1), keep_latest=2, batch_size=1000)
    assert totals.batches == 11
    assert totals.affected == 1001 * 8
    assert (
        scalar(db, "SELECT count(*) FROM build_artifacts WHERE soft_deleted_at = :now", now=NOW)
        == 8008
    )
