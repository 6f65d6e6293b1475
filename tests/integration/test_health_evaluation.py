"""The fleet advances its own health: evaluations with a controlled clock and nobody polling
make it degraded after the window and clear it by itself; the page only reads."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import redis

from sheen import metrics
from sheen.db.engine import get_engine
from sheen.services.server_health import (
    NOT_EVALUATED,
    REPORT_KEY,
    STATE_KEY,
    evaluate_and_publish,
    read_health,
)
from tests.sidecar_support import sidecar_settings

LABELS = {"service": "sheen-worker", "environment": "ci", "region": "local"}


@pytest.fixture
def settings(db):
    # Queue depth above 0 and AI capacity below 0.5 are the two violations here.
    return sidecar_settings(
        slo_window_seconds=600,
        slo_state_ttl_seconds=180,
        slo_queue_depth_max=0,
        slo_ai_capacity_min=0.5,
    )


@pytest.fixture
def state(services, settings):
    client = redis.Redis.from_url(services.redis_url)
    client.delete(STATE_KEY.format(server_id=settings.server_key))
    client.delete(REPORT_KEY.format(server_id=settings.server_key))
    return client


def deep_queue() -> dict[str, int]:
    return {"jobs": 5}


def gauge(name: str, **labels: str) -> float | None:
    return metrics.REGISTRY.get_sample_value(name, {**LABELS, **labels})


def test_two_slos_violated_for_ten_minutes_with_nobody_polling(settings, state):
    """Given two violated SLOs and only the minute evaluations (no page, no API call),
    the fleet is degraded after 10 minutes; once they clear, the banner is gone by itself."""
    # Given
    state.set(settings.slo_ai_capacity_key, "0.1")
    engine = get_engine(settings)
    start = datetime.now(UTC)
    # When the beat's entry point runs every minute for ten minutes
    reports = [
        evaluate_and_publish(settings, engine, state, deep_queue, start + timedelta(minutes=m))
        for m in range(11)
    ]
    # Then degraded only once the streak lasted the whole window
    assert [r.degraded for r in reports] == [False] * 10 + [True]
    assert reports[-1].degraded_since is not None
    assert abs((reports[-1].degraded_since - start).total_seconds()) < 1
    assert gauge("sheen_server_degraded") == 1
    assert gauge("sheen_slo_violated", slo="queue_depth") == 1
    assert gauge("sheen_slo_violated", slo="ai_provider_capacity") == 1
    assert gauge("sheen_slo_violated", slo="success_rate") == 0
    # and the page reads the fleet's report without touching the streak
    key = STATE_KEY.format(server_id=settings.server_key)
    before = state.get(key)
    shown = read_health(settings, engine, state, deep_queue)
    assert shown.degraded is True and shown.generated_at == reports[-1].generated_at
    assert state.get(key) == before
    # When capacity recovers and the next evaluation runs (still nobody looking)
    state.set(settings.slo_ai_capacity_key, "0.9")
    cleared = evaluate_and_publish(
        settings, engine, state, deep_queue, start + timedelta(minutes=11)
    )
    # Then the state is gone and the page shows no banner
    assert cleared.degraded is False
    assert state.exists(key) == 0
    assert gauge("sheen_server_degraded") == 0
    assert read_health(settings, engine, state, deep_queue).degraded is False


def test_reading_never_advances_the_state(settings, state):
    """Given no evaluation by the fleet, reading the page ten minutes apart never degrades it."""
    # Given two violated SLOs but no beat evaluation at all
    state.set(settings.slo_ai_capacity_key, "0.1")
    engine = get_engine(settings)
    # When the page is read twice
    first = read_health(settings, engine, state, deep_queue)
    second = read_health(settings, engine, state, deep_queue)
    # Then it shows the live violations, says nobody evaluated, and starts no streak
    assert sorted(first.violated) == ["ai_provider_capacity", "queue_depth"]
    assert NOT_EVALUATED in second.reasons
    assert second.degraded is False
    assert state.exists(STATE_KEY.format(server_id=settings.server_key)) == 0


def test_stored_report_expires_when_evaluations_stop(settings, state):
    """Given one evaluation, its stored report lives only the state TTL (beat down shows)."""
    # Given / When
    state.set(settings.slo_ai_capacity_key, "0.1")
    evaluate_and_publish(settings, get_engine(settings), state, deep_queue)
    # Then
    ttl = state.ttl(REPORT_KEY.format(server_id=settings.server_key))
    assert 0 < ttl <= settings.slo_state_ttl_seconds
    stored = json.loads(state.get(REPORT_KEY.format(server_id=settings.server_key)))
    assert stored["server_id"] == settings.server_key
