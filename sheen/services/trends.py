"""Trends for the dashboard and `/api/trends`: per job, runs / failures / dead letters per
hour over 24 h and per day over 7 days, and queue depth over the last hour.

Runs and failures come from the hourly roll-up (`job_run_rollups`); dead letters are the
letters still in the dead-letter queue, counted by the hour they were dead-lettered
(one ZCOUNT per job and bucket, pipelined); queue depth is sampled every minute by the
`ops.server_health` beat entry into a Redis sorted set trimmed to QUEUE_HISTORY.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from pydantic import BaseModel, Field
from sqlalchemy import Engine

from sheen.db.queries import query
from sheen.deadletters.registry import BY_JOB as DEAD_LETTERS_BY_JOB  # per job, score dead_at
from sheen.settings import Settings

HOURS = 24
DAYS = 7
QUEUE_WINDOW = timedelta(hours=1)
QUEUE_HISTORY = timedelta(hours=2)
QUEUE_KEY = "ops:queue-depth:{server_id}"


class Bucket(BaseModel):
    start: datetime
    runs: int = Field(ge=0)
    failures: int = Field(ge=0)
    dead_letters: int = Field(ge=0)


class JobTrend(BaseModel):
    job: str
    hourly: list[Bucket] = Field(description="24 buckets, oldest first, the last one current.")
    daily: list[Bucket] = Field(description="7 buckets (UTC days), oldest first.")


class DepthPoint(BaseModel):
    at: datetime
    depth: int = Field(ge=0)


class QueueTrend(BaseModel):
    queue: str
    points: list[DepthPoint]


class Trends(BaseModel):
    generated_at: datetime
    jobs: list[JobTrend]
    queues: list[QueueTrend]


def _hour(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _starts(now: datetime) -> tuple[list[datetime], list[datetime]]:
    hour = _hour(now)
    day = hour.replace(hour=0)
    hours = [hour - timedelta(hours=HOURS - 1 - i) for i in range(HOURS)]
    days = [day - timedelta(days=DAYS - 1 - i) for i in range(DAYS)]
    return hours, days


def _run_rows(engine: Engine, since: datetime) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(query("operations", "hourly_runs"), {"since": since}))


def _dead_letter_counts(
    client: redis.Redis | None, jobs: Iterable[str], edges: list[float]
) -> dict[str, list[int]]:
    """Per job, letters dead-lettered in each [edges[i], edges[i+1]) interval."""
    jobs = list(jobs)
    if client is None or not jobs:
        return {job: [0] * (len(edges) - 1) for job in jobs}
    pipe = client.pipeline(transaction=False)
    for job in jobs:
        for low, high in itertools.pairwise(edges):
            pipe.zcount(DEAD_LETTERS_BY_JOB + job, low, f"({high}")
    counts = [int(n) for n in pipe.execute()]
    width = len(edges) - 1
    return {job: counts[i * width : (i + 1) * width] for i, job in enumerate(jobs)}


def job_trends(
    engine: Engine,
    dead_letters: redis.Redis | None,
    jobs: Iterable[str],
    now: datetime | None = None,
) -> list[JobTrend]:
    now = now or datetime.now(UTC)
    hours, days = _starts(now)
    rows = _run_rows(engine, days[0])
    by_job: dict[str, dict[datetime, tuple[int, int]]] = {}
    for row in rows:
        by_job.setdefault(row.job, {})[_hour(row.hour)] = (int(row.runs), int(row.failures or 0))
    names = sorted(set(jobs) | set(by_job))
    end = _hour(now) + timedelta(hours=1)
    hour_edges = [h.timestamp() for h in hours] + [end.timestamp()]
    day_edges = [d.timestamp() for d in days] + [end.timestamp()]
    hourly_dead = _dead_letter_counts(dead_letters, names, hour_edges)
    daily_dead = _dead_letter_counts(dead_letters, names, day_edges)
    trends = []
    for job in names:
        seen = by_job.get(job, {})
        hourly = [
            Bucket(start=h, runs=seen.get(h, (0, 0))[0], failures=seen.get(h, (0, 0))[1],
                   dead_letters=hourly_dead[job][i])
            for i, h in enumerate(hours)
        ]  # fmt: skip
        daily = []
        for i, d in enumerate(days):
            inside = [v for h, v in seen.items() if d <= h < d + timedelta(days=1)]
            daily.append(
                Bucket(start=d, runs=sum(r for r, _ in inside), failures=sum(f for _, f in inside),
                       dead_letters=daily_dead[job][i])
            )  # fmt: skip
        trends.append(JobTrend(job=job, hourly=hourly, daily=daily))
    return trends


def record_queue_depths(
    client: redis.Redis,
    settings: Settings,
    sampler: Callable[[], Mapping[str, int]],
    now: datetime,
) -> None:
    """Append one sample of every monitored queue's depth; drop samples past QUEUE_HISTORY."""
    try:
        depths = dict(sampler())
    except Exception:  # a broker blip leaves a gap in the chart, never a failed run
        return
    key = QUEUE_KEY.format(server_id=settings.server_key)
    at = now.timestamp()
    pipe = client.pipeline(transaction=True)
    pipe.zadd(key, {json.dumps({"at": at, "depths": depths}, sort_keys=True): at})
    pipe.zremrangebyscore(key, "-inf", f"({at - QUEUE_HISTORY.total_seconds()}")
    pipe.expire(key, int(QUEUE_HISTORY.total_seconds()))
    pipe.execute()


def queue_trends(
    client: redis.Redis | None, settings: Settings, now: datetime | None = None
) -> list[QueueTrend]:
    now = now or datetime.now(UTC)
    points: dict[str, list[DepthPoint]] = {q: [] for q in settings.queue_names}
    if client is not None:
        key = QUEUE_KEY.format(server_id=settings.server_key)
        low = (now - QUEUE_WINDOW).timestamp()
        try:
            raw = client.zrangebyscore(key, low, "+inf")
        except redis.RedisError:
            raw = []
        for item in raw:
            sample = json.loads(item)
            at = datetime.fromtimestamp(float(sample["at"]), UTC)
            for queue, depth in sample["depths"].items():
                points.setdefault(queue, []).append(DepthPoint(at=at, depth=max(int(depth), 0)))
    return [QueueTrend(queue=q, points=p) for q, p in sorted(points.items())]


def trends(
    settings: Settings,
    engine: Engine,
    state: redis.Redis | None,
    dead_letters: redis.Redis | None,
    jobs: Iterable[str],
    now: datetime | None = None,
) -> Trends:
    now = now or datetime.now(UTC)
    return Trends(
        generated_at=now,
        jobs=job_trends(engine, dead_letters, jobs, now),
        queues=queue_trends(state, settings, now),
    )
