"""`GET /api/jobs/overview` on 1,000,000 job runs and 100,000 dead letters.

Seeded set-based (generate_series) over the last 7 days (~143,000 runs in the 24 h
window, about 1.7 runs/s), 12 jobs, 5% failures, 3% retries; dead letters through the
DeadLetterRegistry. Measured through the Flask test client (routing, auth, SQL,
pydantic and JSON included; no network), after 20 warm-up requests.
"""

from __future__ import annotations

import statistics
import time

from sqlalchemy import text

from benchmarks.common import BenchEnv, Figure
from sheen.db.engine import get_engine
from sheen.deadletters import DeadLetter
from sheen.security.tokens import TokenConfig, TokenVerifier, mint_token
from sheen.services.state_sources import dead_letter_registry
from sheen.settings import Settings, load_settings

RUNS = 1_000_000
DEAD_LETTERS = 100_000
REQUESTS = 200
WARM_UP = 20
DAYS = 7
SECRET = "bench-secret-" + "x" * 40


def _seed_runs(engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            text("""
            INSERT INTO job_runs (job, task_id, idempotency_key, attempt, status, queue, region,
                                  started_at, finished_at, duration_seconds, queue_wait_seconds, error)
            SELECT 'jobs.bench_' || (i % 12), 'bench-' || i, 'k-' || i, 1,
                   CASE WHEN i % 20 = 0 THEN 'failure' WHEN i % 33 = 0 THEN 'retry' ELSE 'success' END,
                   'jobs', CASE WHEN i % 3 = 0 THEN 'eu-west' ELSE 'local' END,
                   now() - (i * (:days * interval '1 day') / :n),
                   now() - (i * (:days * interval '1 day') / :n) + interval '2 seconds',
                   (i % 400) / 100.0, (i % 1000) / 100.0,
                   CASE WHEN i % 20 = 0 THEN 'bench failure' END
            FROM generate_series(1, :n) AS i
        """),
            {"n": RUNS, "days": DAYS},
        )
    # Steady state: autovacuum has caught up with the seed (1,000,000 trigger upserts leave
    # as many dead roll-up row versions; live traffic produces them a few per second).
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE job_runs"))
        conn.execute(text("VACUUM ANALYZE job_run_rollups"))


def _seed_dead_letters(settings: Settings) -> None:
    registry = dead_letter_registry(settings)
    now = time.time()
    for i in range(DEAD_LETTERS):
        registry.add(
            DeadLetter(
                task=f"jobs.bench_{i % 12}", reason="retries_exhausted", task_id=f"dl-{i}",
                exc_type="TransientError", exc_message="bench", dead_lettered_at=now - i,
            )
        )  # fmt: skip


def _client(settings: Settings) -> tuple[object, dict[str, str]]:
    from sheen.sidecar import create_app

    config = TokenConfig.from_values(
        algorithms="HS256", secret=SECRET, audience=settings.jwt_audience,
        issuer=settings.jwt_issuer, environment="ci",
    )  # fmt: skip
    app = create_app(settings, verifier=TokenVerifier(config))
    token = mint_token(config, sub="bench", scopes=["admin:read"], ttl="1h")
    return app.test_client(), {"Authorization": f"Bearer {token}"}


def _percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def run(env: BenchEnv) -> list[Figure]:
    settings = load_settings()
    engine = get_engine(settings)
    began = time.perf_counter()
    _seed_runs(engine)
    seed_runs_s = time.perf_counter() - began
    began = time.perf_counter()
    _seed_dead_letters(settings)
    seed_dl_s = time.perf_counter() - began
    client, headers = _client(settings)
    timings = []
    for i in range(WARM_UP + REQUESTS):
        start = time.perf_counter()
        response = client.get("/api/jobs/overview", headers=headers)  # type: ignore[attr-defined]
        elapsed = time.perf_counter() - start
        assert response.status_code == 200, response.get_data(as_text=True)
        if i >= WARM_UP:
            timings.append(elapsed * 1000)
    body = response.json
    assert body["dead_letters"]["total"] == DEAD_LETTERS
    in_window = sum(j["runs_24h"] for j in body["jobs"])
    health = []
    for _ in range(50):
        start = time.perf_counter()
        assert client.get("/api/server-health", headers=headers).status_code == 200  # type: ignore[attr-defined]
        health.append((time.perf_counter() - start) * 1000)
    return [
        Figure("seed 1,000,000 job_runs (generate_series)", seed_runs_s, "s"),
        Figure("seed 100,000 dead letters (registry.add)", seed_dl_s, "s"),
        Figure("overview P50", _percentile(timings, 50), "ms", f"{REQUESTS} requests"),
        Figure(
            "overview P95", _percentile(timings, 95), "ms", f"{in_window:,} runs in 24 h window"
        ),
        Figure("overview max", max(timings), "ms"),
        Figure("server-health P95", _percentile(health, 95), "ms", "15 min lookback, 50 requests"),
    ]
