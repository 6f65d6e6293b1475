"""`GET /api/jobs/overview` on 10,000,000 job runs and 1,000,000 dead letters.

Seeded set-based: job_runs by generate_series over the last 7 days (~1,430,000 runs in
the 24 h window, about 16.5 runs/s), 12 jobs, 5% failures, 3% retries, with the table's
secondary indexes and the roll-up trigger set aside during the load and then rebuilt
(the same indexes, and the roll-up filled by one GROUP BY: exactly what the trigger
would have written row by row); dead letters through the registry's own Lua script,
pipelined. Measured through the Flask test client (routing, auth, SQL, pydantic and
JSON included; no network): ROUNDS rounds of REQUESTS requests after 20 warm-up
requests; the P95 figure is the median of the rounds' P95 with min-max.

BENCH_QUICK=1 seeds 200,000 / 20,000.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import text

from benchmarks.common import BenchEnv, Figure
from benchmarks.measure import percentile, scaled
from sheen.db.engine import get_engine
from sheen.deadletters import DeadLetter
from sheen.deadletters.registry import BY_JOB, BY_TIME, COUNTS, QUEUE, RAW, envelope
from sheen.security.tokens import TokenConfig, TokenVerifier, mint_token
from sheen.services.state_sources import dead_letter_registry
from sheen.settings import Settings, load_settings

RUNS = scaled(10_000_000, 200_000)
DEAD_LETTERS = scaled(1_000_000, 20_000)
REQUESTS = 200
ROUNDS = 3
WARM_UP = 20
DAYS = 7
SECRET = "bench-secret-" + "x" * 40


def _secondary_indexes(conn) -> list[tuple[str, str]]:
    rows = conn.execute(
        text("""
        SELECT i.relname, pg_get_indexdef(x.indexrelid)
        FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
        WHERE x.indrelid = 'job_runs'::regclass AND NOT x.indisprimary
    """)
    )
    return [(name, ddl) for name, ddl in rows]


def _seed_runs(engine) -> None:
    with engine.begin() as conn:
        indexes = _secondary_indexes(conn)
        for name, _ in indexes:
            conn.execute(text(f'DROP INDEX "{name}"'))
        conn.execute(text("ALTER TABLE job_runs DISABLE TRIGGER job_runs_rollup"))
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
        conn.execute(
            text("""
            INSERT INTO job_run_rollups AS r (job, hour, status, bucket, runs)
            SELECT job, sheen_utc_hour(started_at), status,
                   sheen_duration_bucket(duration_seconds), count(*)
            FROM job_runs GROUP BY 1, 2, 3, 4
            ON CONFLICT (job, hour, status, bucket) DO UPDATE SET runs = r.runs + excluded.runs
        """)
        )
        conn.execute(text("ALTER TABLE job_runs ENABLE TRIGGER job_runs_rollup"))
        for _, ddl in indexes:
            conn.execute(text(ddl))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE job_runs"))
        conn.execute(text("VACUUM ANALYZE job_run_rollups"))


def _seed_dead_letters(settings: Settings) -> None:
    registry = dead_letter_registry(settings)
    pipe = registry.client.pipeline(transaction=False)
    now = time.time()
    for i in range(DEAD_LETTERS):
        letter = DeadLetter(
            task=f"jobs.bench_{i % 12}", reason="retries_exhausted", task_id=f"dl-{i}",
            exc_type="TransientError", exc_message="bench", dead_lettered_at=now - i,
        )  # fmt: skip
        registry._add(
            keys=[RAW, BY_TIME, BY_JOB + letter.job, COUNTS, QUEUE],
            args=[letter.id, envelope(letter), letter.dead_lettered_at, letter.job],
            client=pipe,
        )
        if i % 5000 == 4999:
            pipe.execute()
    pipe.execute()


def _client(settings: Settings) -> tuple[object, dict[str, str]]:
    from sheen.sidecar import create_app

    config = TokenConfig.from_values(
        algorithms="HS256", secret=SECRET, audience=settings.jwt_audience,
        issuer=settings.jwt_issuer, environment="ci",
    )  # fmt: skip
    app = create_app(settings, verifier=TokenVerifier(config))
    token = mint_token(config, sub="bench", scopes=["admin:read"], ttl="1h")
    return app.test_client(), {"Authorization": f"Bearer {token}"}


def _timed(client: Any, path: str, headers: dict[str, str], n: int) -> list[float]:
    timings = []
    for _ in range(n):
        start = time.perf_counter()
        response = client.get(path, headers=headers)
        timings.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.get_data(as_text=True)
    return timings


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
    _timed(client, "/api/jobs/overview", headers, WARM_UP)
    rounds = [_timed(client, "/api/jobs/overview", headers, REQUESTS) for _ in range(ROUNDS)]
    p95s = [percentile(r, 95) for r in rounds]
    every = [t for r in rounds for t in r]
    body = client.get("/api/jobs/overview", headers=headers).json
    assert body["dead_letters"]["total"] == DEAD_LETTERS
    in_window = sum(j["runs_24h"] for j in body["jobs"])
    health = _timed(client, "/api/server-health", headers, 50)
    with engine.connect() as conn:
        rollup_rows = conn.execute(text("SELECT count(*) FROM job_run_rollups")).scalar_one()
    return [
        Figure(f"seed {RUNS:,} job_runs (generate_series)", seed_runs_s, "s"),
        Figure(f"seed {DEAD_LETTERS:,} dead letters (pipelined)", seed_dl_s, "s"),
        Figure("job_run_rollups rows", rollup_rows, "rows", f"{DAYS} days of hours"),
        Figure("overview P50", percentile(every, 50), "ms", f"{ROUNDS} x {REQUESTS} requests"),
        Figure(
            "overview P95",
            sorted(p95s)[len(p95s) // 2],
            "ms",
            f"median of rounds, min {min(p95s):.2f}, max {max(p95s):.2f}; "
            f"{in_window:,} runs in 24 h window; target < 20 ms",
        ),
        Figure("overview max", max(every), "ms"),
        Figure("server-health P95", percentile(health, 95), "ms", "50 requests"),
    ]
