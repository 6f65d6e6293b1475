"""The worker's scrape endpoint under the prefork pool: exact counts, seeded gauges, labels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psutil
from sqlalchemy import text

from sheen.embedded import free_port
from tests.acceptance.metrics_support import scrape, total, wait_for

N = 40
JOB = "jobs.ghost_build_detection"


def test_n_tasks_on_two_children_add_up_to_exactly_n(start_worker, celery_app, db, services):
    """N tasks spread over two pool children show exactly N in sheen_job_runs_total."""
    # Given a prefork worker with two children serving /metrics
    port = free_port()
    worker = start_worker(concurrency=2, SHEEN_METRICS_PORT=str(port))
    assert len(worker.children()) == 2
    # When N tasks run
    results = [celery_app.send_task(JOB, kwargs={}) for _ in range(N)]
    for result in results:
        result.get(timeout=60, propagate=False)
    # Then the scrape adds the children's counts up to exactly N
    samples = wait_for(port, lambda s: total(s, "sheen_job_runs_total", job=JOB) >= N)
    assert total(samples, "sheen_job_runs_total", job=JOB) == N
    assert total(samples, "sheen_job_duration_seconds_count", job=JOB) == N
    assert total(samples, "sheen_queue_wait_seconds_count", queue="jobs") == N
    # and both children wrote their own counter file (the work really was spread)
    children = {c.pid for c in psutil.Process(worker.proc.pid).children()}
    files = {int(f.stem.split("_")[-1]) for f in services.state_dir.glob("metrics/*/counter_*.db")}
    assert children <= files, (children, files)
    assert total(samples, "sheen_job_last_success_timestamp_seconds", job=JOB) > 0
    assert ("sheen_queue_depth", frozenset({
        ("service", "sheen-worker"), ("environment", "ci"), ("region", "local"), ("queue", "jobs"),
    })) in samples  # fmt: skip


def test_last_success_is_seeded_from_job_runs(start_worker, db):
    """After a restart the last-success gauge starts from job_runs, not from zero."""
    # Given a success of a scheduled job two hours ago
    finished = datetime.now(UTC) - timedelta(hours=2)
    with db.begin() as conn:
        conn.execute(
            text("""INSERT INTO job_runs (job, task_id, idempotency_key, status, started_at,
                    finished_at, duration_seconds) VALUES ('jobs.daily_reset', 't', 'k',
                    'success', :t, :t, 1.0)"""),
            {"t": finished},
        )
    # When a worker starts
    port = free_port()
    start_worker(concurrency=1, SHEEN_METRICS_PORT=str(port))
    # Then its first scrape already shows that time
    samples = scrape(port)
    value = total(samples, "sheen_job_last_success_timestamp_seconds", job="jobs.daily_reset")
    assert abs(value - finished.timestamp()) < 1
