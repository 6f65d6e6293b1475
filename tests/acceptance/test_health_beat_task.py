"""A real worker runs the beat entry ops.server_health: the report, the stored streak and
the worker's /metrics (sheen_server_degraded) advance with nobody reading the page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import redis

from beat_schedule import JOBS_BY_NAME
from sheen.embedded import free_port
from sheen.services.server_health import REPORT_KEY, STATE_KEY
from sheen.settings import load_settings
from tests.acceptance.metrics_support import total, wait_for


def test_worker_evaluates_health_every_minute_entry(start_worker, celery_app, db, services):
    """Given two violated SLOs, two runs of ops.server_health ten minutes apart (as_of)
    degrade the fleet; the worker exports sheen_server_degraded 1 and the report is stored."""
    # Given the beat entry every minute, and AI capacity low plus a queue depth SLO of 0
    job = JOBS_BY_NAME["ops.server_health"]
    assert job.cadence == "every minute" and job.schedule.minute == set(range(60))
    server_id = load_settings().server_key
    state = redis.Redis.from_url(services.redis_url)
    state.delete(STATE_KEY.format(server_id=server_id), REPORT_KEY.format(server_id=server_id))
    state.set("ai:provider:capacity", "0.05")
    port = free_port()
    start_worker(
        concurrency=1, SHEEN_METRICS_PORT=str(port), SHEEN_SLO_AI_CAPACITY_MIN="0.5",
        SHEEN_SLO_REDIS_LATENCY_MS="0.000001",
    )  # fmt: skip
    start = datetime.now(UTC) - timedelta(minutes=10)
    # When the fleet evaluates at start and ten minutes later
    first = celery_app.send_task("ops.server_health", kwargs={"as_of": start.isoformat()})
    assert first.get(timeout=60)["degraded"] is False
    later = celery_app.send_task(
        "ops.server_health", kwargs={"as_of": (start + timedelta(minutes=10)).isoformat()}
    )
    result = later.get(timeout=60)
    # Then it is degraded, exported and stored
    assert result["degraded"] is True, result
    assert {"ai_provider_capacity", "redis_latency"} <= set(result["violated"])
    samples = wait_for(port, lambda s: total(s, "sheen_server_degraded") >= 1)
    assert total(samples, "sheen_server_degraded") == 1
    assert total(samples, "sheen_slo_violated", slo="ai_provider_capacity") == 1
    assert state.exists(REPORT_KEY.format(server_id=server_id)) == 1
