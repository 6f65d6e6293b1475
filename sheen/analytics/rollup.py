"""The migration roll-up: per UTC day and overall, for everyone or one user.

Both read the same shape of rows, (day, event type, step, duration bucket) with event
counts and sums: for everyone from `migration_analytics_daily` (kept by a trigger on
the events, a few thousand rows for a week however many events), for one user from
that user's events, bucketed by the same SQL function. Percentiles come from the
buckets (each 5 % wide: a P95 is within 5 % of the exact one). Reads run in a
READ ONLY transaction, as SHEEN_ANALYTICS_DB_ROLE when it is set.

- success %: completed / (completed + failed) of the migrations that ended;
- duration P50/P95: `completed` events (start of the first attempt to the end);
- per step: `step_completed` durations and AI seconds, and the `retry` / `failed`
  events raised inside the step (the steps that fail most);
- retries per migration: retry events / started; AI seconds per migration: the AI
  seconds of ended migrations (each outcome event carries its migration's total).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Engine, text

from sheen.analytics.events import EVENT_TYPES
from sheen.db.queries import query

BUCKET_BASE = 0.001  # seconds; migration 0008's sheen_analytics_bucket says the same
BUCKET_GROWTH = 1.05
MAX_DAYS = 90


class EventCounts(BaseModel):
    started: int = 0
    step_completed: int = 0
    retry: int = 0
    completed: int = 0
    failed: int = 0


class Figures(BaseModel):
    counts: EventCounts
    success_pct: float | None = Field(description="completed / (completed + failed), in %")
    duration_p50_seconds: float | None
    duration_p95_seconds: float | None
    retries_per_migration: float | None = Field(description="retry events / started")
    ai_seconds_per_migration: float | None = Field(description="AI seconds of ended migrations")


class DayFigures(Figures):
    day: date


class StepFigures(BaseModel):
    step: str
    completed: int
    duration_p50_seconds: float | None
    duration_p95_seconds: float | None
    ai_seconds: float
    retries: int
    failures: int


class MigrationRollup(BaseModel):
    generated_at: datetime
    user_id: uuid.UUID | None = Field(description="null: every user")
    days: int
    since: date
    overall: Figures
    steps: list[StepFigures] = Field(description="Every step seen, by name")
    failing_steps: list[StepFigures] = Field(
        description="Steps with failures or retries, most failures first ('' = outside a step)"
    )
    per_day: list[DayFigures] = Field(description="One entry per UTC day, oldest first")


def bucket_range(bucket: int) -> tuple[float, float]:
    """The [lower, upper) seconds of a duration bucket."""
    upper = BUCKET_BASE * BUCKET_GROWTH ** (bucket + 1)
    return (0.0 if bucket == 0 else BUCKET_BASE * BUCKET_GROWTH**bucket), upper


def quantile(histogram: dict[int, int], q: float) -> float | None:
    """The q-quantile (0..1) of a bucket histogram, interpolated inside its bucket."""
    counts = sorted((b, n) for b, n in histogram.items() if b >= 0 and n > 0)
    total = sum(n for _, n in counts)
    if not total:
        return None
    rank, seen = q * total, 0
    for bucket, n in counts:
        if seen + n >= rank:
            lower, upper = bucket_range(bucket)
            return round(lower + (upper - lower) * max(rank - seen, 0) / n, 6)
        seen += n
    return round(bucket_range(counts[-1][0])[1], 6)  # pragma: no cover (rank <= total)


@dataclass
class _Acc:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(EVENT_TYPES, 0))
    durations: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    ended_ai: float = 0.0

    def add(self, event_type: str, bucket: int, events: int, ai: float) -> None:
        self.counts[event_type] += events
        if event_type == "completed":
            self.durations[bucket] += events
        if event_type in ("completed", "failed"):
            self.ended_ai += ai

    def figures(self) -> dict[str, Any]:
        c = self.counts
        ended = c["completed"] + c["failed"]
        return {
            "counts": EventCounts(**c),
            "success_pct": round(100 * c["completed"] / ended, 2) if ended else None,
            "duration_p50_seconds": quantile(self.durations, 0.5),
            "duration_p95_seconds": quantile(self.durations, 0.95),
            "retries_per_migration": round(c["retry"] / c["started"], 4) if c["started"] else None,
            "ai_seconds_per_migration": round(self.ended_ai / ended, 3) if ended else None,
        }


@dataclass
class _Step:
    durations: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    completed: int = 0
    ai: float = 0.0
    retries: int = 0
    failures: int = 0

    def figures(self, name: str) -> StepFigures:
        return StepFigures(
            step=name,
            completed=self.completed,
            duration_p50_seconds=quantile(self.durations, 0.5),
            duration_p95_seconds=quantile(self.durations, 0.95),
            ai_seconds=round(self.ai, 3),
            retries=self.retries,
            failures=self.failures,
        )


def summarise(
    rows: Iterable[Any], since: date, days: int, user_id: uuid.UUID | None, now: datetime
) -> MigrationRollup:
    """Fold (day, event_type, step, bucket, events, duration sum, ai sum) rows."""
    overall, per_day = _Acc(), {since + timedelta(d): _Acc() for d in range(days)}
    steps: dict[str, _Step] = defaultdict(_Step)
    for day, event_type, step, bucket, raw_events, _dur, raw_ai in rows:
        events, ai = int(raw_events), float(raw_ai or 0)
        overall.add(event_type, bucket, events, ai)
        if day in per_day:
            per_day[day].add(event_type, bucket, events, ai)
        if event_type == "step_completed":
            s = steps[step]
            s.completed += events
            s.durations[bucket] += events
            s.ai += ai
        elif event_type in ("retry", "failed"):
            s = steps[step]
            if event_type == "retry":
                s.retries += events
            else:
                s.failures += events
    step_figures = [steps[name].figures(name) for name in sorted(steps) if name]
    failing = sorted(
        (steps[name].figures(name) for name in steps if steps[name].failures + steps[name].retries),
        key=lambda f: (-f.failures, -f.retries, f.step),
    )
    return MigrationRollup(
        generated_at=now,
        user_id=user_id,
        days=days,
        since=since,
        overall=Figures(**overall.figures()),
        steps=step_figures,
        failing_steps=failing,
        per_day=[DayFigures(day=d, **acc.figures()) for d, acc in sorted(per_day.items())],
    )


def rollup(
    engine: Engine,
    user_id: uuid.UUID | None = None,
    days: int = 7,
    role: str | None = None,
    now: datetime | None = None,
) -> MigrationRollup:
    """The roll-up of the last `days` UTC days (today included), read-only."""
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"days must be 1..{MAX_DAYS}")
    now = now or datetime.now(UTC)
    since = now.astimezone(UTC).date() - timedelta(days=days - 1)
    with engine.connect() as conn, conn.begin():
        _read_only(conn, role)
        if user_id is None:
            rows = conn.execute(query("analytics", "rollup_everyone"), {"since": since}).all()
        else:
            since_at = datetime(since.year, since.month, since.day, tzinfo=UTC)
            rows = conn.execute(
                query("analytics", "rollup_user"), {"user_id": user_id, "since_at": since_at}
            ).all()
    return summarise(rows, since, days, user_id, now)


def health(engine: Engine, role: str | None = None) -> dict[str, Any]:
    """A real round trip as the roll-up's reader: newest event, events in the last hour."""
    with engine.connect() as conn, conn.begin():
        _read_only(conn, role)
        row = conn.execute(query("analytics", "health")).one()
    return {
        "last_event_at": row.last_event_at,
        "events_last_hour": int(row.events_last_hour),
        "role": row.role,
        "read_only": row.read_only == "on",
    }


def _read_only(conn: Any, role: str | None) -> None:
    conn.execute(query("analytics", "read_only"))
    if role:
        quoted = conn.dialect.identifier_preparer.quote(role)
        conn.execute(text(f"SET LOCAL ROLE {quoted}"))
