"""The trigger-kept job-run roll-up always equals an aggregation of the raw runs."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import text

from sheen.services.job_runs import RunStart, finish_run, start_run
from sheen.services.overview import ROLLUP_BOUNDS, p95_from_buckets
from tests.integration.test_sidecar import seed_runs

MIGRATION = (
    Path(__file__).resolve().parents[2] / "migrations" / "versions" / "0003_job_run_rollups.py"
)


def rollup_counts(engine) -> dict[tuple[str, str], int]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT job, status, sum(runs) FROM job_run_rollups GROUP BY 1, 2 HAVING sum(runs) <> 0"
            )
        )
        return {(r[0], r[1]): int(r[2]) for r in rows}


def raw_counts(engine) -> dict[tuple[str, str], int]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT job, status, count(*) FROM job_runs GROUP BY 1, 2"))
        return {(r[0], r[1]): int(r[2]) for r in rows}


def test_rollup_follows_inserts_updates_and_deletes(db):
    """Runs started, finished, re-marked and deleted leave the roll-up equal to the raw table."""
    # Given seeded runs and a live run that starts and finishes through the service
    seed_runs(db, 300)
    run_id, _ = start_run(db, RunStart("fleet.ping", "live-1", "k", "jobs", "local"))
    assert rollup_counts(db)[("fleet.ping", "running")] == 1
    finish_run(db, run_id, "success", 0.2)
    # When other rows change status and some are deleted
    with db.begin() as conn:
        conn.execute(text("UPDATE job_runs SET status = 'timeout', error = 'x' WHERE id % 7 = 0"))
        conn.execute(text("DELETE FROM job_runs WHERE id % 11 = 0"))
    # Then the roll-up matches the raw runs exactly
    assert rollup_counts(db) == raw_counts(db)
    # And TRUNCATE of job_runs empties it
    with db.begin() as conn:
        conn.execute(text("TRUNCATE job_runs"))
    assert rollup_counts(db) == {}


def test_bucket_bounds_match_the_migration():
    """The service reads buckets with the same bounds the trigger writes them with."""
    found = re.search(r'^BOUNDS = "([^"]+)"', MIGRATION.read_text(), flags=re.M)
    assert found
    assert tuple(float(b) for b in found.group(1).split(",")) == ROLLUP_BOUNDS


def test_p95_from_buckets_interpolates_inside_a_bucket():
    """95 runs under 1 s and 5 in (1, 2.5]: P95 is 1 s; all in (1, 2.5]: 2.425 s; none: None."""
    one = ROLLUP_BOUNDS.index(1)
    assert p95_from_buckets({one: 95, one + 1: 5}) == 1.0
    assert abs(p95_from_buckets({one + 1: 100}) - (1 + 1.5 * 0.95)) < 1e-9
    assert p95_from_buckets({-1: 4}) is None
    assert p95_from_buckets({len(ROLLUP_BOUNDS): 3}) == ROLLUP_BOUNDS[-1]
