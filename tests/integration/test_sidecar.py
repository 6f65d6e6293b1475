"""The sidecar answers every endpoint on a blank and a busy database, with admin-token auth."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from sheen.deadletters import DeadLetter
from sheen.services.state_sources import dead_letter_registry
from tests.sidecar_support import bearer, clean_broker, make_app, sidecar_settings

READ = ("admin:read",)
WRITE = ("admin:write",)


@pytest.fixture
def settings(db, services):
    clean_broker(services)
    return sidecar_settings(slo_lookback_seconds=86400)


@pytest.fixture
def client(settings, celery_app):
    return make_app(settings).test_client()


def seed_runs(engine, count: int = 200) -> None:
    """Runs of two jobs over the last day: one in ten fails, queue waits spread 0..10 s."""
    with engine.begin() as conn:
        conn.execute(
            text("""
            INSERT INTO job_runs (job, task_id, idempotency_key, attempt, status, queue, region,
                                  started_at, finished_at, duration_seconds, queue_wait_seconds, error)
            SELECT CASE WHEN i % 2 = 0 THEN 'jobs.daily_reset' ELSE 'fleet.ping' END,
                   'task-' || i, 'key-' || i, 1,
                   CASE WHEN i % 10 = 0 THEN 'failure' WHEN i % 17 = 0 THEN 'retry' ELSE 'success' END,
                   'jobs', 'local',
                   now() - (i * interval '5 minutes' / 10), now() - (i * interval '5 minutes' / 10),
                   (i % 50) / 10.0, (i % 100) / 10.0,
                   CASE WHEN i % 10 = 0 THEN 'boom' END
            FROM generate_series(1, :n) AS i
        """),
            {"n": count},
        )


def test_health_endpoints_are_open(client):
    """/healthz and /readyz need no token; readyz makes real round trips and says 200."""
    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.json
    assert {c["name"] for c in ready.json["checks"]} == {"broker", "redis", "postgresql"}
    assert all(c["ok"] for c in ready.json["checks"])


def test_readyz_names_what_failed(settings, celery_app):
    """A dead Redis makes /readyz answer 503 naming it, never 500."""
    broken = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    client = make_app(broken).test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["failed"] == ["redis"]
    assert "redis" in response.json["detail"]


def test_blank_database_gives_a_valid_overview(client, settings):
    """Empty tables: every scheduled job listed with zero runs, no dead letters, no error."""
    response = client.get("/api/jobs/overview", headers=bearer(settings, *READ))
    assert response.status_code == 200, response.json
    body = response.json
    jobs = {j["job"]: j for j in body["jobs"]}
    assert "jobs.daily_reset" in jobs
    assert jobs["jobs.daily_reset"]["runs_24h"] == 0
    assert jobs["jobs.daily_reset"]["last_run"] is None
    assert jobs["jobs.daily_reset"]["next_run_at"] is not None
    assert body["dead_letters"]["total"] == 0
    assert body["queues"][0]["queue"] == "jobs"


def test_busy_database_overview_figures(client, settings, db, services):
    """Runs, success ratio, retries, P95 and dead letters are computed from the real tables."""
    # Given
    seed_runs(db, 200)
    registry = dead_letter_registry(settings)
    registry.add(DeadLetter(task="fleet.ping", reason="permanent", task_id="t-1", exc_type="E"))
    # When
    body = client.get("/api/jobs/overview", headers=bearer(settings, *READ)).json
    # Then
    jobs = {j["job"]: j for j in body["jobs"]}
    daily = jobs["jobs.daily_reset"]
    assert daily["runs_24h"] == 100
    retries = sum(1 for i in range(2, 201, 2) if i % 10 != 0 and i % 17 == 0)
    failures = sum(1 for i in range(2, 201, 2) if i % 10 == 0)
    assert daily["retries_24h"] == retries
    assert daily["finished_24h"] == 100 - retries
    assert daily["success_ratio_24h"] == pytest.approx((100 - retries - failures) / (100 - retries))
    assert daily["p95_duration_seconds_24h"] > 4
    assert daily["last_run"]["task_id"] == "task-2"
    assert jobs["fleet.ping"]["dead_letters"] == 1
    assert body["dead_letters"]["by_job"] == {"fleet.ping": 1}
    assert body["dead_letters"]["latest"][0]["task_id"] == "t-1"
    assert body["queues"][0]["starts_1h"] > 0


def test_server_health_reports_slos_and_regions(client, settings, db):
    """Six SLOs are reported; AI capacity with no key is unknown; the local region has figures."""
    seed_runs(db, 50)
    body = client.get("/api/server-health", headers=bearer(settings, *READ)).json
    assert {s["name"] for s in body["slos"]} == {
        "ai_provider_capacity", "redis_latency", "queue_depth",
        "dequeue_latency_p95", "runtime_p95", "success_rate",
    }  # fmt: skip
    states = {s["name"]: s["state"] for s in body["slos"]}
    assert states["ai_provider_capacity"] == "unknown"
    assert states["redis_latency"] == "ok"
    assert body["degraded"] is False
    region = body["regions"][0]
    assert region["region"] == "local"
    assert region["runs"] == 50
    assert region["configured_concurrency"] == settings.worker_concurrency


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/jobs/overview"), ("GET", "/api/server-health"), ("GET", "/"),
     ("POST", "/api/jobs/test-alert")],
)  # fmt: skip
def test_api_needs_a_token(client, method, path):
    """Without a token every /api/* and the dashboard answer 401 with a Bearer challenge."""
    response = client.open(path, method=method)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json["error"] == "invalid_token"


def test_test_alert_needs_write_scope(client, settings):
    """admin:read may look but not enqueue: 403 insufficient_scope."""
    response = client.post("/api/jobs/test-alert", headers=bearer(settings, *READ), json={})
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]


def test_test_alert_enqueues_fleet_test_alert(client, settings, celery_app):
    """admin:write enqueues `count` fleet.test_alert messages on the jobs queue."""
    response = client.post(
        "/api/jobs/test-alert", headers=bearer(settings, *WRITE), json={"mode": "fail", "count": 3}
    )
    assert response.status_code == 202, response.json
    assert len(response.json["task_ids"]) == 3
    with celery_app.connection_for_write() as conn:
        assert conn.default_channel.client.llen("jobs") == 3


def test_test_alert_rejects_bad_bodies(client, settings):
    """Unknown modes, extra fields and non-objects are 400, not 500."""
    headers = bearer(settings, *WRITE)
    for body in ({"mode": "explode"}, {"count": 0}, {"x": 1}, [1]):
        assert client.post("/api/jobs/test-alert", headers=headers, json=body).status_code == 400


def test_unknown_paths_and_methods_answer_json(client, settings):
    """404 and 405 are JSON; 405 says which methods are allowed."""
    missing = client.get("/nope")
    assert missing.status_code == 404
    assert missing.json["error"] == "not_found"
    wrong = client.delete("/api/jobs/overview", headers=bearer(settings, *READ))
    assert wrong.status_code == 405
    assert wrong.json["error"] == "method_not_allowed"
    assert "GET" in wrong.headers["Allow"]


def test_openapi_document_lists_every_endpoint(client):
    """The OpenAPI 3.1 document is open and has response schemas for each endpoint."""
    doc = client.get("/openapi.json").json
    assert doc["openapi"].startswith("3.1")
    assert set(doc["paths"]) == {
        "/healthz", "/readyz", "/metrics", "/api/jobs/overview", "/api/server-health",
        "/api/trends", "/api/jobs/test-alert", "/api/migration-verification",
        "/api/migration-analytics/rollup", "/api/migration-analytics/health",
        "/api/user-notifications", "/api/appeals", "/openapi.json", "/",
    }  # fmt: skip
    overview = doc["paths"]["/api/jobs/overview"]["get"]["responses"]["200"]
    assert overview["content"]["application/json"]["schema"]["$ref"].endswith("/JobsOverview")
    assert "JobsOverview" in doc["components"]["schemas"]


def test_sidecar_metrics_sample_queue_depth(client, settings, celery_app):
    """/metrics is open and shows the queue depth read from the broker now."""
    with celery_app.connection_for_write() as conn:
        conn.default_channel.client.rpush("jobs", "x", "y")
    text_body = client.get("/metrics").get_data(as_text=True)
    assert (
        'sheen_queue_depth{environment="ci",queue="jobs",region="local",service="sheen-worker"} 2.0'
        in text_body
    )


def test_dashboard_renders_cards(client, settings, db):
    """The dashboard is HTML with the region cards, the banner and the dead-letter table."""
    seed_runs(db, 20)
    response = client.get("/", headers=bearer(settings, *READ))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for marker in ('id="degraded-banner"', 'data-card="dequeue-p95"', 'id="dead-letters"'):
        assert marker in html
    assert 'http-equiv="refresh"' in html


def test_overview_since_window_excludes_old_runs(client, settings, db):
    """Runs older than 24 h count for the last run but not for the 24 h figures."""
    with db.begin() as conn:
        conn.execute(
            text("""INSERT INTO job_runs (job, task_id, idempotency_key, status, started_at,
                    finished_at, duration_seconds) VALUES ('jobs.daily_reset', 'old', 'k', 'success',
                    :t, :t, 1.0)"""),
            {"t": datetime.now(UTC) - timedelta(days=2)},
        )
    body = client.get("/api/jobs/overview", headers=bearer(settings, *READ)).json
    daily = next(j for j in body["jobs"] if j["job"] == "jobs.daily_reset")
    assert daily["runs_24h"] == 0
    assert daily["last_run"]["task_id"] == "old"
