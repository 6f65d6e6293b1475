"""Retention of the job_runs roll-up: old hours pruned in batches, recent ones kept."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text

from sheen.services.rollups import prune_rollups

NOW = datetime(2026, 11, 25, tzinfo=UTC)


def _seed_hours(db, hours_ago: list[int]) -> None:
    with db.begin() as conn:
        conn.execute(text("DELETE FROM job_run_rollups"))
        for n, ago in enumerate(hours_ago):
            conn.execute(
                text(
                    "INSERT INTO job_run_rollups (job, hour, status, bucket, runs) "
                    "VALUES ('jobs.x', :hour, 'success', :bucket, 3)"
                ),
                {"hour": NOW - timedelta(hours=ago), "bucket": n % 5},
            )


def _hours_left(db) -> list[datetime]:
    with db.connect() as conn:
        return list(
            conn.execute(
                text("SELECT hour FROM job_run_rollups WHERE job = 'jobs.x' ORDER BY hour")
            ).scalars()
        )


def test_prune_deletes_only_hours_before_the_cutoff_in_batches(db):
    """Rows for hours before the cutoff go, batch by batch; the cutoff hour and later stay."""
    # Given 7 rows 40 days old, 1 at exactly 30 days and 2 recent
    _seed_hours(db, [40 * 24 + n for n in range(7)] + [30 * 24, 5, 1])
    finished: list[object] = []
    # When pruned with a cutoff of 30 days, 3 rows a batch
    deleted, batches = prune_rollups(
        db, NOW - timedelta(days=30), batch_size=3, finish=finished.append
    )
    # Then the 7 old rows went in 3 batches (3, 3, 1), the last one ran `finish` once
    assert (deleted, batches) == (7, 3)
    assert len(finished) == 1
    assert _hours_left(db) == [
        NOW - timedelta(days=30),
        NOW - timedelta(hours=5),
        NOW - timedelta(hours=1),
    ]
    # and a second run changes nothing
    assert prune_rollups(db, NOW - timedelta(days=30), batch_size=3) == (0, 1)


def test_the_scheduled_job_prunes_through_a_real_worker(db, start_worker, celery_app):
    """jobs.prune_job_run_rollups on a worker deletes hours older than the retention, once per day."""
    # Given roll-up rows 40 days and 1 hour before the day run for, and a worker
    _seed_hours(db, [40 * 24, 1])
    start_worker(concurrency=1)
    day = date(2026, 11, 25)
    # When the job runs for that day, twice
    first = celery_app.send_task("jobs.prune_job_run_rollups", kwargs={"day": day.isoformat()})
    result = first.get(timeout=60)
    again = celery_app.send_task("jobs.prune_job_run_rollups", kwargs={"day": day.isoformat()})
    again.get(timeout=60)
    # Then the old hour went and the recent one stayed; the second run was a no-op
    assert result["affected"] == 1
    assert result["before"] == "2026-10-26T00:00:00+00:00"
    assert _hours_left(db) == [NOW - timedelta(hours=1)]
