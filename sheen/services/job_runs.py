"""Job runs: one row per execution, written at start and closed at the end."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, case, func, select, update

from sheen.db.models import job_runs

# Errors are stored for operators; keep them bounded.
MAX_ERROR_CHARS = 2000


@dataclass(frozen=True)
class RunStart:
    job: str
    task_id: str
    idempotency_key: str
    queue: str | None
    region: str
    queue_wait_seconds: float | None = None
    retries: int = 0  # which retry of its task this delivery is
    trace_id: str | None = None  # W3C trace id (32 hex), as on the task's logs and events
    request_id: str | None = None  # the producer's request id


def start_run(engine: Engine, start: RunStart) -> tuple[int, int]:
    """Open a run row, closing earlier rows of the same task still marked 'running'.

    Such a row of an earlier retry scheduled that retry but could not record it (the
    database was down): it is closed as `retry`. One of the same retry died with its worker.
    """
    earlier_retry = job_runs.c.retries < start.retries
    with engine.begin() as conn:
        conn.execute(
            update(job_runs)
            .where(job_runs.c.task_id == start.task_id, job_runs.c.status == "running")
            .values(
                status=case((earlier_retry, "retry"), else_="failure"),
                error=case((earlier_retry, "retry (not recorded)"), else_="worker_lost"),
                finished_at=func.now(),
            )
        )
        previous = conn.execute(
            select(func.count()).select_from(job_runs).where(job_runs.c.task_id == start.task_id)
        ).scalar_one()
        attempt = int(previous) + 1
        run_id = conn.execute(
            job_runs.insert()
            .values(
                job=start.job,
                task_id=start.task_id,
                idempotency_key=start.idempotency_key,
                attempt=attempt,
                status="running",
                queue=start.queue,
                region=start.region,
                queue_wait_seconds=start.queue_wait_seconds,
                retries=start.retries,
                trace_id=start.trace_id,
                request_id=start.request_id,
            )
            .returning(job_runs.c.id)
        ).scalar_one()
    return int(run_id), attempt


def finish_run(
    engine: Engine,
    run_id: int,
    status: str,
    duration_seconds: float,
    rows_affected: int | None = None,
    error: str | None = None,
) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(job_runs)
            .where(job_runs.c.id == run_id)
            .values(
                status=status,
                finished_at=func.now(),
                duration_seconds=duration_seconds,
                rows_affected=rows_affected,
                error=error[:MAX_ERROR_CHARS] if error else None,
            )
        )


def record_skip(engine: Engine, start: RunStart, reason: str) -> None:
    """A delivery that did nothing because its key was already done is still a recorded run."""
    with engine.begin() as conn:
        conn.execute(
            job_runs.insert().values(
                job=start.job,
                task_id=start.task_id,
                idempotency_key=start.idempotency_key,
                status="skipped",
                queue=start.queue,
                region=start.region,
                finished_at=func.now(),
                duration_seconds=0.0,
                error=reason,
                trace_id=start.trace_id,
                request_id=start.request_id,
            )
        )


def last_runs(engine: Engine) -> dict[str, dict[str, Any]]:
    """The latest run of every job that has run at least once."""
    latest = (
        select(job_runs.c.job, func.max(job_runs.c.id).label("id"))
        .group_by(job_runs.c.job)
        .subquery()
    )
    stmt = select(
        job_runs.c.job,
        job_runs.c.status,
        job_runs.c.started_at,
        job_runs.c.finished_at,
        job_runs.c.duration_seconds,
        job_runs.c.error,
        job_runs.c.task_id,
    ).join(latest, latest.c.id == job_runs.c.id)
    with engine.connect() as conn:
        return {row.job: dict(row._mapping) for row in conn.execute(stmt)}


def runs_for_task(engine: Engine, task_id: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(job_runs).where(job_runs.c.task_id == task_id).order_by(job_runs.c.id)
        )
        return [dict(r._mapping) for r in rows]


def isoformat(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def close_running(engine: Engine, task_id: str, status: str, error: str) -> int:
    """Close the task's runs still marked running (its process was killed); returns how many."""
    with engine.begin() as conn:
        result = conn.execute(
            update(job_runs)
            .where(job_runs.c.task_id == task_id, job_runs.c.status == "running")
            .values(
                status=status,
                finished_at=func.now(),
                duration_seconds=func.extract("epoch", func.now() - job_runs.c.started_at),
                error=error[:MAX_ERROR_CHARS],
            )
        )
    return int(result.rowcount or 0)
