"""The jobs overview: per job runs and outcomes, dead letters, queues. Read-only.

Every figure is computed from the source of truth at request time (job_runs with its
indexes, the broker's lists, the dead-letter registry): no cache can show stale truth.
A blank database gives a valid overview with zero counts, never an error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Engine

from beat_schedule import JOBS, JOBS_BY_NAME
from sheen.db.queries import query

WINDOW = timedelta(hours=24)
QUEUE_WINDOW = timedelta(hours=1)
LATEST_DEAD_LETTERS = 20
FINISHED = ("success", "failure", "timeout")
# Upper bounds of the roll-up's duration buckets (migration 0003 says the same); the last
# bucket is everything above 1800 s.
ROLLUP_BOUNDS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 900, 1800)


class LastRun(BaseModel):
    status: str
    started_at: datetime
    finished_at: datetime | None = None
    duration_seconds: float | None = None
    task_id: str


class JobSummary(BaseModel):
    job: str
    scheduled: bool
    schedule: str | None = Field(default=None, description="Cadence of a scheduled job, in words.")
    next_run_at: datetime | None = None
    last_run: LastRun | None = None
    runs_24h: int = Field(ge=0)
    finished_24h: int = Field(
        ge=0, description="Runs with a final outcome (success/failure/timeout)."
    )
    success_ratio_24h: float | None = Field(
        None, ge=0, le=1, description="Null without finished runs."
    )
    p95_duration_seconds_24h: float | None = Field(
        default=None, ge=0, description="Estimated from duration buckets (linear within one)."
    )
    retries_24h: int = Field(ge=0)
    dead_letters: int = Field(ge=0)


class DeadLetterItem(BaseModel):
    id: str
    job: str
    task_id: str | None = None
    reason: str
    error: str | None = Field(default=None, description="Exception type and message, cut to 500.")
    dead_at: datetime


class DeadLetters(BaseModel):
    available: bool = Field(description="False when the broker has no dead-letter registry.")
    total: int = Field(ge=0)
    by_job: dict[str, int]
    latest: list[DeadLetterItem]


class QueueSummary(BaseModel):
    queue: str
    depth: int | None = Field(
        default=None, ge=0, description="Null when the broker could not be read."
    )
    starts_1h: int = Field(ge=0)
    p95_wait_seconds_1h: float | None = Field(default=None, ge=0)


class JobsOverview(BaseModel):
    generated_at: datetime
    window_start: datetime = Field(description="Start of the 24 h figures: the UTC hour 24 h ago.")
    window_seconds: int
    jobs: list[JobSummary]
    dead_letters: DeadLetters
    queues: list[QueueSummary]


def _f(value: Any) -> float | None:
    return None if value is None else float(value)


def window_start(now: datetime) -> datetime:
    """The UTC hour boundary 24 h back: the roll-up counts whole hours."""
    return (now - WINDOW).astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def p95_from_buckets(counts: Mapping[int, int]) -> float | None:
    """P95 of finished runs from bucket counts, linear inside the bucket (as Prometheus does)."""
    total = sum(n for b, n in counts.items() if b >= 0)
    if total <= 0:
        return None
    rank = 0.95 * total
    seen = 0
    for bucket in sorted(b for b in counts if b >= 0):
        n = counts[bucket]
        if n <= 0:
            continue
        if seen + n >= rank:
            lower = ROLLUP_BOUNDS[bucket - 1] if bucket > 0 else 0.0
            if bucket >= len(ROLLUP_BOUNDS):
                return float(ROLLUP_BOUNDS[-1])
            upper = ROLLUP_BOUNDS[bucket]
            return float(lower + (upper - lower) * (rank - seen) / n)
        seen += n
    return float(ROLLUP_BOUNDS[-1])


@dataclass
class _JobStats:
    runs: int = 0
    finished: int = 0
    successes: int = 0
    retries: int = 0
    buckets: dict[int, int] = field(default_factory=dict)


def _job_stats(rows: Any) -> dict[str, _JobStats]:
    stats: dict[str, _JobStats] = {}
    for row in rows:
        item = stats.setdefault(row.job, _JobStats())
        n = int(row.runs)
        item.runs += n
        if row.status in FINISHED:
            item.finished += n
            item.buckets[int(row.bucket)] = item.buckets.get(int(row.bucket), 0) + n
        if row.status == "success":
            item.successes += n
        if row.status == "retry":
            item.retries += n
    return stats


def last_success_times(engine: Engine, jobs: Sequence[str] | None = None) -> dict[str, float]:
    """Unix time of the last success of each scheduled job that ever succeeded."""
    names = list(jobs) if jobs is not None else [job.name for job in JOBS]
    with engine.connect() as conn:
        rows = conn.execute(query("overview", "last_success_times"), {"jobs": names})
        return {row.job: float(row.finished_at) for row in rows}


def _dead_letters(registry: Any | None) -> DeadLetters:
    if registry is None:
        return DeadLetters(available=False, total=0, by_job={}, latest=[])
    by_job = {str(k): int(v) for k, v in registry.count_by_job().items()}
    latest = [_dead_letter_item(item) for item in registry.latest(LATEST_DEAD_LETTERS)]
    return DeadLetters(available=True, total=sum(by_job.values()), by_job=by_job, latest=latest)


def _dead_letter_item(letter: Any) -> DeadLetterItem:
    error = ": ".join(str(x) for x in (letter.exc_type, letter.exc_message) if x) or None
    return DeadLetterItem(
        id=str(letter.id),
        job=str(letter.job),
        task_id=letter.task_id,
        reason=str(letter.reason),
        error=error[:500] if error else None,
        dead_at=datetime.fromtimestamp(float(letter.dead_lettered_at), UTC),
    )


def jobs_overview(
    engine: Engine,
    queue_depths: Callable[[], Mapping[str, int]],
    queue_names: Sequence[str],
    dead_letter_registry: Any | None = None,
    now: datetime | None = None,
) -> JobsOverview:
    now = now or datetime.now(UTC)
    with engine.connect() as conn:
        known = [row.job for row in conn.execute(query("overview", "job_names"))]
        since = window_start(now)
        stats = _job_stats(conn.execute(query("overview", "job_rollup"), {"since": since}))
        names = sorted({job.name for job in JOBS} | set(known))
        last = {
            row.job: LastRun(
                status=row.status,
                started_at=row.started_at,
                finished_at=row.finished_at,
                duration_seconds=row.duration_seconds,
                task_id=row.task_id,
            )
            for row in conn.execute(query("overview", "last_runs"), {"jobs": names})
        }
        waits = {
            row.queue: row
            for row in conn.execute(query("overview", "queue_wait"), {"since": now - QUEUE_WINDOW})
        }
    dead = _dead_letters(dead_letter_registry)
    jobs = []
    for name in names:
        row = stats.get(name, _JobStats())
        scheduled = JOBS_BY_NAME.get(name)
        jobs.append(
            JobSummary(
                job=name,
                scheduled=scheduled is not None,
                schedule=scheduled.cadence if scheduled else None,
                next_run_at=next_scheduled_run(name, now),
                last_run=last.get(name),
                runs_24h=row.runs,
                finished_24h=row.finished,
                success_ratio_24h=row.successes / row.finished if row.finished else None,
                p95_duration_seconds_24h=p95_from_buckets(row.buckets),
                retries_24h=row.retries,
                dead_letters=dead.by_job.get(name, 0),
            )
        )
    try:
        depths: Mapping[str, int] | None = queue_depths()
    except Exception:
        depths = None
    queues = []
    for queue in sorted(set(queue_names) | {q for q in waits if q}):
        wait = waits.get(queue)
        queues.append(
            QueueSummary(
                queue=queue,
                depth=None if depths is None else int(depths.get(queue, 0)),
                starts_1h=int(wait.starts) if wait else 0,
                p95_wait_seconds_1h=_f(wait.p95_wait_seconds) if wait else None,
            )
        )
    return JobsOverview(
        generated_at=now,
        window_start=since,
        window_seconds=int((now - since).total_seconds()),
        jobs=jobs,
        dead_letters=dead,
        queues=queues,
    )


def next_scheduled_run(job: str, now: datetime) -> datetime | None:
    """When beat will next send a scheduled job (crontab arithmetic, UTC)."""
    scheduled = JOBS_BY_NAME.get(job)
    if scheduled is None:
        return None
    cron = scheduled.schedule
    moment = now.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    limit = moment + timedelta(days=400)
    while moment < limit:
        if (
            moment.day not in cron.day_of_month
            or moment.month not in cron.month_of_year
            or (moment.isoweekday() % 7) not in cron.day_of_week
        ):
            moment = moment.replace(hour=0, minute=0) + timedelta(days=1)
        elif moment.hour not in cron.hour:
            moment = moment.replace(minute=0) + timedelta(hours=1)
        elif moment.minute not in cron.minute:
            moment += timedelta(minutes=1)
        else:
            return moment
    return None
