"""Server health: the degraded state needs two SLOs violated for the window and clears by itself."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import redis

from sheen.db.engine import get_engine
from sheen.services.server_health import STATE_KEY, evaluate
from tests.sidecar_support import sidecar_settings


@pytest.fixture
def settings(db):
    # Queue depth above 0 and AI capacity below 0.5 are violations in these tests.
    return sidecar_settings(
        slo_window_seconds=60,
        slo_state_ttl_seconds=2,
        slo_queue_depth_max=0,
        slo_ai_capacity_min=0.5,
    )


@pytest.fixture
def state(services):
    return redis.Redis.from_url(services.redis_url)


def deep_queue() -> dict[str, int]:
    return {"jobs": 5}


def empty_queue() -> dict[str, int]:
    return {"jobs": 0}


def test_two_violations_for_the_window_make_the_fleet_degraded(settings, state):
    """Two SLOs violated: not degraded at first, degraded once the streak lasts the window."""
    # Given two violated SLOs (AI capacity and queue depth)
    state.set(settings.slo_ai_capacity_key, "0.1")
    start = datetime.now(UTC)
    # When the first evaluation sees them
    first = evaluate(settings, get_engine(settings), state, deep_queue, now=start)
    # Then the streak starts but the fleet is not degraded yet
    assert sorted(first.violated) == ["ai_provider_capacity", "queue_depth"]
    assert first.degraded is False
    key = STATE_KEY.format(server_id=settings.server_key)
    assert 0 < state.ttl(key) <= settings.slo_state_ttl_seconds
    # When an evaluation a window later still sees them
    later = evaluate(
        settings, get_engine(settings), state, deep_queue, now=start + timedelta(seconds=61)
    )
    # Then the fleet is degraded since the start of the streak
    assert later.degraded is True
    assert later.degraded_since is not None
    assert abs((later.degraded_since - start).total_seconds()) < 1


def test_one_violation_breaks_the_streak(settings, state):
    """Fewer than two violations delete the streak: the window starts again."""
    state.set(settings.slo_ai_capacity_key, "0.1")
    start = datetime.now(UTC)
    evaluate(settings, get_engine(settings), state, deep_queue, now=start)
    middle = evaluate(
        settings, get_engine(settings), state, empty_queue, now=start + timedelta(seconds=30)
    )
    assert middle.violated == ["ai_provider_capacity"]
    assert state.exists(STATE_KEY.format(server_id=settings.server_key)) == 0
    later = evaluate(
        settings, get_engine(settings), state, deep_queue, now=start + timedelta(seconds=61)
    )
    assert later.degraded is False


def test_degraded_state_clears_by_itself(settings, state):
    """With nobody confirming the violations, the state key expires after its TTL."""
    state.set(settings.slo_ai_capacity_key, "0.1")
    evaluate(settings, get_engine(settings), state, deep_queue)
    key = STATE_KEY.format(server_id=settings.server_key)
    assert state.exists(key) == 1
    time.sleep(settings.slo_state_ttl_seconds + 0.3)
    assert state.exists(key) == 0


def test_missing_ai_capacity_is_unknown_not_violated(settings, state):
    """The AI capacity key the main app maintains may be absent: unknown, not a violation."""
    report = evaluate(settings, get_engine(settings), state, empty_queue)
    capacity = next(s for s in report.slos if s.name == "ai_provider_capacity")
    assert capacity.state == "unknown"
    assert report.violated == []


def test_unreachable_redis_reports_degraded_instead_of_failing(settings):
    """If Redis does not answer, the report says degraded with the reason; nothing raises."""
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    report = evaluate(settings, get_engine(settings), dead, empty_queue)
    assert report.degraded is True
    assert "redis unreachable" in report.reasons
    assert "redis_latency" in report.violated
