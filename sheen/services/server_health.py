"""Server health: six SLOs, per-region figures and the self-clearing degraded state.

The fleet is degraded when two or more SLOs have been violated without a break for
`slo_window_seconds` (10 minutes by default). The streak lives in Redis under
`servers:degraded-state:{serverId}`: created at the first evaluation that sees two
violations, deleted by one that sees fewer, and given a TTL of
`slo_state_ttl_seconds` on every confirming evaluation, so it clears by itself when
nobody confirms the violations any more. If Redis cannot be reached, that is itself
reported as degraded instead of failing the request.

Who advances the state: the fleet itself. The beat entry `ops.server_health` runs
`evaluate_and_publish` every minute: it evaluates, advances the streak, exports
`sheen_server_degraded` and `sheen_slo_violated{slo}`, and stores the report under
`servers:health:{serverId}` (kept `slo_state_ttl_seconds`). The sidecar only reads
(`read_health`): the stored report, or, when none is fresh (beat down), the live SLOs
with the stored streak, never writing it.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import redis
from pydantic import BaseModel, Field
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from sheen.db.queries import query
from sheen.settings import Settings

STATE_KEY = "servers:degraded-state:{server_id}"
REPORT_KEY = "servers:health:{server_id}"
NOT_EVALUATED = "health not evaluated by the fleet recently (is beat running?)"
SloState = Literal["ok", "violated", "unknown"]
REDIS_DOWN = "redis unreachable"


class Slo(BaseModel):
    name: str
    state: SloState
    value: float | None = None
    threshold: float
    comparison: Literal["max", "min"] = Field(description="max: value must stay at or below.")
    unit: str
    detail: str | None = None


class RegionFigures(BaseModel):
    region: str
    queue_depth: int | None = Field(default=None, ge=0)
    dequeue_p95_seconds: float | None = Field(default=None, ge=0)
    start_latency_p95_seconds: float | None = Field(default=None, ge=0)
    runtime_p95_seconds: float | None = Field(default=None, ge=0)
    success_ratio: float | None = Field(default=None, ge=0, le=1)
    runs: int = Field(ge=0)
    active_concurrency: int = Field(ge=0, description="Runs in progress now.")
    configured_concurrency: int = Field(ge=0)


class ServerHealth(BaseModel):
    server_id: str
    generated_at: datetime
    degraded: bool
    degraded_since: datetime | None = Field(
        default=None, description="Start of the current streak of two or more violated SLOs."
    )
    violated: list[str]
    window_seconds: int
    reasons: list[str]
    slos: list[Slo]
    regions: list[RegionFigures]


def _slo(
    name: str, value: float | None, threshold: float, comparison: str, unit: str, detail: str = ""
) -> Slo:
    if value is None:
        state: SloState = "unknown"
    elif comparison == "max":
        state = "violated" if value > threshold else "ok"
    else:
        state = "violated" if value < threshold else "ok"
    return Slo(
        name=name,
        state=state,
        value=value,
        threshold=threshold,
        comparison=comparison,  # type: ignore[arg-type]
        unit=unit,
        detail=detail or None,
    )


def _ping_ms(client: redis.Redis) -> float:
    began = time.perf_counter()
    client.ping()
    return (time.perf_counter() - began) * 1000


def _capacity(client: redis.Redis, key: str) -> float | None:
    """Remaining AI-provider capacity as a 0..1 ratio; missing or unreadable is unknown."""
    raw = client.get(key)
    if raw is None:
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    return value if 0 <= value <= 1 else None


def _region_rows(engine: Engine, since: datetime) -> list[dict[str, Any]] | None:
    try:
        with engine.connect() as conn:
            return [
                dict(r._mapping)
                for r in conn.execute(query("overview", "region_figures"), {"since": since})
            ]
    except SQLAlchemyError:
        return None


def _f(value: Any) -> float | None:
    return None if value is None else float(value)


def _read_state(client: redis.Redis, key: str, violations: int, now: float) -> float | None:
    """The stored streak's start, without changing it (readers never advance the state)."""
    raw = client.get(key)
    if violations < 2 or raw is None:
        return None
    try:
        return float(json.loads(raw)["since"])
    except (ValueError, KeyError, TypeError):
        return None


def _update_state(
    client: redis.Redis, key: str, violations: int, now: float, ttl: int
) -> float | None:
    """Keep the streak: return when it started, or None when there is no streak."""
    if violations < 2:
        client.delete(key)
        return None
    raw = client.get(key)
    since = now
    if raw is not None:
        try:
            since = float(json.loads(raw)["since"])
        except (ValueError, KeyError, TypeError):
            since = now
    client.set(key, json.dumps({"since": since, "confirmed_at": now}), ex=ttl)
    return since


def evaluate(
    settings: Settings,
    engine: Engine,
    client: redis.Redis,
    queue_depths: Callable[[], Mapping[str, int]],
    now: datetime | None = None,
    *,
    advance: bool = True,
) -> ServerHealth:
    """Evaluate every SLO; `advance=False` reads the streak without extending or ending it."""
    now = now or datetime.now(UTC)
    reasons: list[str] = []
    redis_ok = True
    try:
        latency_ms: float | None = _ping_ms(client)
        capacity = _capacity(client, settings.slo_ai_capacity_key)
    except redis.RedisError:
        redis_ok, latency_ms, capacity = False, None, None
        reasons.append(REDIS_DOWN)
    try:
        depths: Mapping[str, int] | None = queue_depths()
    except Exception:
        depths = None
    total_depth = sum(depths.values()) if depths is not None else None
    rows = _region_rows(engine, now - timedelta(seconds=settings.slo_lookback_seconds))
    if rows is None:
        reasons.append("database unreachable")
    rows = rows or []
    finished = sum(int(r["finished"]) for r in rows)
    successes = sum(int(r["successes"]) for r in rows)
    local = next((r for r in rows if r["region"] == settings.region), None)

    def worst(field: str) -> float | None:
        values = [float(r[field]) for r in rows if r[field] is not None]
        return max(values) if values else None

    redis_slo = _slo("redis_latency", latency_ms, settings.slo_redis_latency_ms, "max", "ms")
    if not redis_ok:
        redis_slo = redis_slo.model_copy(update={"state": "violated", "detail": REDIS_DOWN})
    slos = [
        _slo(
            "ai_provider_capacity",
            capacity,
            settings.slo_ai_capacity_min,
            "min",
            "ratio",
            "" if capacity is not None else f"{settings.slo_ai_capacity_key} not set",
        ),
        redis_slo,
        _slo("queue_depth", total_depth, settings.slo_queue_depth_max, "max", "messages"),
        _slo(
            "dequeue_latency_p95",
            worst("dequeue_p95_seconds"),
            settings.slo_dequeue_p95_seconds,
            "max",
            "s",
        ),
        _slo(
            "runtime_p95",
            worst("runtime_p95_seconds"),
            settings.slo_runtime_p95_seconds,
            "max",
            "s",
        ),
        _slo(
            "success_rate",
            successes / finished if finished else None,
            settings.slo_success_rate_min,
            "min",
            "ratio",
        ),
    ]
    violated = [s.name for s in slos if s.state == "violated"]
    key = STATE_KEY.format(server_id=settings.server_key)
    since: float | None = None
    if redis_ok:
        try:
            if advance:
                since = _update_state(
                    client, key, len(violated), now.timestamp(), settings.slo_state_ttl_seconds
                )
            else:
                since = _read_state(client, key, len(violated), now.timestamp())
        except redis.RedisError:
            redis_ok = False
            reasons.append(REDIS_DOWN)
    in_streak = since is not None and now.timestamp() - since >= settings.slo_window_seconds
    degraded = (not redis_ok) or in_streak
    if in_streak:
        reasons.append(f"{len(violated)} SLOs violated for {settings.slo_window_seconds} s or more")
    regions = [
        RegionFigures(
            region=str(r["region"]),
            queue_depth=total_depth if r is local else None,
            dequeue_p95_seconds=_f(r["dequeue_p95_seconds"]),
            start_latency_p95_seconds=_f(r["start_latency_p95_seconds"]),
            runtime_p95_seconds=_f(r["runtime_p95_seconds"]),
            success_ratio=(int(r["successes"]) / int(r["finished"]))
            if int(r["finished"])
            else None,
            runs=int(r["runs"]),
            active_concurrency=int(r["running"]),
            configured_concurrency=settings.worker_concurrency if r is local else 0,
        )
        for r in rows
    ]
    if local is None:
        regions.append(
            RegionFigures(
                region=settings.region,
                queue_depth=total_depth,
                runs=0,
                active_concurrency=0,
                configured_concurrency=settings.worker_concurrency,
            )
        )
    return ServerHealth(
        server_id=settings.server_key,
        generated_at=now,
        degraded=degraded,
        degraded_since=datetime.fromtimestamp(since, UTC) if in_streak and since else None,
        violated=violated,
        window_seconds=settings.slo_window_seconds,
        reasons=reasons,
        slos=slos,
        regions=sorted(regions, key=lambda r: r.region),
    )


def evaluate_and_publish(
    settings: Settings,
    engine: Engine,
    client: redis.Redis,
    queue_depths: Callable[[], Mapping[str, int]],
    now: datetime | None = None,
) -> ServerHealth:
    """The beat's entry point: evaluate, advance the streak, export gauges, store the report."""
    from sheen import metrics

    report = evaluate(settings, engine, client, queue_depths, now)
    metrics.record_server_health(
        report.degraded, {s.name: s.state == "violated" for s in report.slos}, settings
    )
    # A Redis failure is already in the report (degraded: redis unreachable) and the gauges.
    with contextlib.suppress(redis.RedisError):
        client.set(
            REPORT_KEY.format(server_id=settings.server_key),
            report.model_dump_json(),
            ex=settings.slo_state_ttl_seconds,
        )
    return report


def read_health(
    settings: Settings,
    engine: Engine,
    client: redis.Redis,
    queue_depths: Callable[[], Mapping[str, int]],
) -> ServerHealth:
    """What the page and API show: the fleet's last report, else a read-only evaluation."""
    try:
        raw = client.get(REPORT_KEY.format(server_id=settings.server_key))
    except redis.RedisError:
        raw = None
    if raw is not None:
        try:
            return ServerHealth.model_validate_json(raw)
        except ValueError:
            pass
    report = evaluate(settings, engine, client, queue_depths, advance=False)
    return report.model_copy(update={"reasons": [*report.reasons, NOT_EVALUATED]})
