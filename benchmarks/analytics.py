"""Migration analytics: the roll-up over 5,000,000 events, and what emitting costs a task.

1. Roll-up: 5,000,000 events over 30 days (1,000,000 migrations of 10,000 users:
   started, three step_completed, completed or failed, a retry on every 7th), seeded
   set-based (generate_series, 1,000,000 rows per statement, with
   session_replication_role = replica: no per-row FK check or trigger, the daily table
   then filled by the trigger's own aggregate in one statement; the secondary indexes
   dropped during the seed and built again after it). Then 200 requests of
   `GET /api/migration-analytics/rollup?days=7` (everyone) through the Flask test client
   (routing, auth, read-only transaction, SQL, fold, pydantic, JSON; no network), after
   20 warm-up requests, and 200 of one user's roll-up. Target P95 < 100 ms, aim 50 ms.
2. Emission: a migration-step no-op task (tests/probes/analytics.py, job_runs recorded)
   drained by a real prefork worker with SHEEN_ANALYTICS_EMIT on and off, interleaved
   over ROUNDS rounds (benchmarks/workload.py). Figure: median of the per-round ratios
   of throughput on / off (target >= 0.9x), and of CPU per task (worker tree + Redis).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from sqlalchemy import text

from benchmarks.common import BenchEnv, Figure
from benchmarks.measure import Sample, compare, percentile, scaled
from benchmarks.workload import DrainSpec, drain
from sheen.db.engine import get_engine
from sheen.security.tokens import TokenConfig, TokenVerifier, mint_token
from sheen.settings import Settings, load_settings

EVENTS = scaled(5_000_000, 500_000)
PER_MIGRATION = 5
USERS = 10_000
DAYS = 30
CHUNK = 1_000_000
REQUESTS = 200
WARM_UP = 20
TASKS = scaled(5_000, 1_000)
ROUNDS = scaled(3, 3)
SECRET = "bench-secret-" + "x" * 40
PROBES = "tests.probes.analytics"

SEED = """
INSERT INTO migration_analytics_events
    (event_type, migration_id, user_id, task_id, job, step, attempt, duration_seconds,
     ai_seconds, error_class, request_id, trace_id, service, environment, region, occurred_at)
SELECT e.event_type, m.mid, m.uid, 'bench-' || m.i, 'migration.run', e.step, e.attempt,
       CASE WHEN e.event_type = 'started' THEN NULL
            ELSE e.base * (0.5 + (m.i::bigint * 7919 % 1000) / 500.0) END,
       e.ai, e.error_class, 'req-' || m.i, md5(m.i::text), 'sheen-worker', 'ci', 'local',
       now() - (m.i * (:days * interval '1 day') / :migrations) + e.offset_s * interval '1 second'
FROM (SELECT i, md5('m' || i)::uuid AS mid, u.ids[1 + i % :users] AS uid
      FROM generate_series(:first, :last) AS i,
           (SELECT array_agg(id) AS ids FROM auth.users) AS u) AS m
CROSS JOIN LATERAL (VALUES
    ('started', '', 1, 0.0, 0.0, NULL, 0),
    ('step_completed', 'fetch_site', 1, 8.0, 0.0, NULL, 8),
    ('step_completed', 'rewrite_assets', 1, 40.0, 30.0, NULL, 48),
    (CASE WHEN m.i % 7 = 0 THEN 'retry' ELSE 'step_completed' END, 'deploy', 1, 12.0, 0.0,
     CASE WHEN m.i % 7 = 0 THEN 'ConnectionError' END, 60),
    (CASE WHEN m.i % 20 = 0 THEN 'failed' ELSE 'completed' END,
     CASE WHEN m.i % 20 = 0 THEN 'deploy' ELSE '' END, 1, 65.0, 30.0,
     CASE WHEN m.i % 20 = 0 THEN 'MigrationStepFailed' END, 65)
) AS e(event_type, step, attempt, base, ai, error_class, offset_s)
"""

# The body of the trigger function sheen_analytics_daily (migration 0008), over the table.
DAILY = """
INSERT INTO migration_analytics_daily (day, event_type, step, bucket, events,
                                       duration_seconds_sum, ai_seconds_sum)
SELECT (occurred_at AT TIME ZONE 'UTC')::date, event_type, step,
       sheen_analytics_bucket(duration_seconds), count(*), coalesce(sum(duration_seconds), 0),
       sum(ai_seconds)
FROM migration_analytics_events
GROUP BY 1, 2, 3, 4
"""

UNIQUE = "uq_migration_analytics_events_task_id_event_type_attempt_step"
INDEXES = """
SELECT indexname, indexdef FROM pg_indexes
WHERE tablename = 'migration_analytics_events' AND indexname <> 'pk_migration_analytics_events'
"""


def _seed(engine: Any) -> float:
    migrations = EVENTS // PER_MIGRATION
    began = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO auth.users (id) SELECT gen_random_uuid() FROM generate_series(1, :n)"
            ),
            {"n": USERS},
        )
    # Seed speed only: the events' indexes are dropped and built again after the seed.
    with engine.begin() as conn:
        indexes = conn.execute(text(INDEXES)).all()
        conn.execute(text(f"ALTER TABLE migration_analytics_events DROP CONSTRAINT {UNIQUE}"))
        for name, _ in indexes:
            if name != UNIQUE:
                conn.execute(text(f"DROP INDEX {name}"))
    per_chunk = CHUNK // PER_MIGRATION
    for first in range(1, migrations + 1, per_chunk):
        with engine.begin() as conn:
            # Seed speed only: no per-row FK check or trigger; the daily table is then
            # filled by the trigger's own aggregate, once (DAILY), and checked below.
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(
                text(SEED),
                {"first": first, "last": min(first + per_chunk - 1, migrations), "days": DAYS,
                 "migrations": migrations, "users": USERS},
            )  # fmt: skip
    with engine.begin() as conn:
        for _, definition in indexes:
            conn.execute(text(definition))
        conn.execute(
            text(
                f"ALTER TABLE migration_analytics_events ADD CONSTRAINT {UNIQUE} UNIQUE USING INDEX {UNIQUE}"
            )
        )
        conn.execute(text(DAILY))
        events, counted = conn.execute(text(
            "SELECT (SELECT count(*) FROM migration_analytics_events),"
            " (SELECT sum(events) FROM migration_analytics_daily)"
        )).one()  # fmt: skip
    assert events == counted == EVENTS, (events, counted)
    seeded = time.perf_counter() - began
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE migration_analytics_events"))
        conn.execute(text("VACUUM ANALYZE migration_analytics_daily"))
    return seeded


def _client(settings: Settings) -> tuple[Any, dict[str, str]]:
    from sheen.sidecar import create_app

    config = TokenConfig.from_values(
        algorithms="HS256", secret=SECRET, audience=settings.jwt_audience,
        issuer=settings.jwt_issuer, environment="ci",
    )  # fmt: skip
    bench_settings = settings.model_copy(update={"analytics_db_role": "sheen_analytics_reader"})
    app = create_app(bench_settings, verifier=TokenVerifier(config))
    token = mint_token(config, sub="bench", scopes=["admin:read"], ttl="1h")
    return app.test_client(), {"Authorization": f"Bearer {token}"}


def _timed(client: Any, headers: dict[str, str], url: str) -> tuple[list[float], Any]:
    timings, body = [], None
    for i in range(WARM_UP + REQUESTS):
        start = time.perf_counter()
        response = client.get(url, headers=headers)
        elapsed = time.perf_counter() - start
        assert response.status_code == 200, response.get_data(as_text=True)
        body = response.get_json()
        if i >= WARM_UP:
            timings.append(elapsed * 1000)
    return timings, body


def _rollup_figures(env: BenchEnv) -> list[Figure]:
    settings = load_settings()
    engine = get_engine(settings)
    seed_s = _seed(engine)
    with engine.connect() as conn:
        total = conn.execute(text("SELECT count(*) FROM migration_analytics_events")).scalar()
        daily = conn.execute(
            text("SELECT count(*) FROM migration_analytics_daily WHERE day >= current_date - 6")
        ).scalar()
        heavy = conn.execute(
            text(
                "SELECT user_id FROM migration_analytics_events GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
            )
        ).scalar()
    client, headers = _client(settings)
    everyone, body = _timed(client, headers, "/api/migration-analytics/rollup?days=7")
    one, _ = _timed(client, headers, f"/api/migration-analytics/rollup?userId={heavy}&days=7")
    started = body["overall"]["counts"]["started"]
    return [
        Figure(f"seed {total:,} events (generate_series)", seed_s, "s", f"{DAYS} days, triggers off, daily table in one statement"),
        Figure("roll-up, everyone, 7 days: P50", percentile(everyone, 50), "ms",
               f"{REQUESTS} requests; {daily:,} daily rows read"),
        Figure("roll-up, everyone, 7 days: P95", percentile(everyone, 95), "ms",
               f"{started:,} migrations in window; target < 100 ms, aim 50"),
        Figure("roll-up, everyone, 7 days: max", max(everyone), "ms"),
        Figure("roll-up, one user, 7 days: P95", percentile(one, 95), "ms", f"{REQUESTS} requests"),
    ]  # fmt: skip


def _emission_figures(env: BenchEnv) -> list[Figure]:
    from workers.app import app as fleet

    engine = get_engine(load_settings())
    user = uuid.uuid4()
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO auth.users (id) VALUES (:id)"), {"id": user})
    kwargs = {"migration_id": str(uuid.uuid4()), "user_id": str(user)}
    sides = {"off": "off", "on": "on"}
    samples: dict[str, list[Sample]] = {name: [] for name in sides}
    for rnd in range(ROUNDS):
        for name, emit in sides.items():
            spec = DrainSpec(
                "workers.app", "probe.migration_noop_step", "jobs", kwargs=kwargs,
                environ={"SHEEN_EXTRA_TASK_MODULES": PROBES, "SHEEN_ANALYTICS_EMIT": emit,
                         "SHEEN_STATE_DIR": str(env.tmp / f"analytics-{name}-{rnd}")},
            )  # fmt: skip
            sample = drain(env, spec, fleet, TASKS, f"analytics-{name}-{rnd}")
            samples[name].append(sample)
            print(
                f"  round {rnd + 1} emit {name:<3} {sample.rate:7,.0f} tasks/s  "
                f"{sample.cpu_per_task * 1e6:7.1f} us CPU/task (worker + redis)",
                flush=True,
            )
    with engine.connect() as conn:
        written = conn.execute(
            text("SELECT count(*) FROM migration_analytics_events WHERE user_id = :u"), {"u": user}
        ).scalar()
    # Throughput: on / off >= 0.9 (higher is better); CPU per task: on / off.
    rate = compare([s.rate for s in samples["off"]], [s.rate for s in samples["on"]], 1 / 0.9, 0.1)
    rate_ratios = [1 / r for r in rate.ratios]
    cpu = compare([s.cpu_per_task for s in samples["on"]], [s.cpu_per_task for s in samples["off"]],
                  1 / 0.9, 0.1)  # fmt: skip
    median_rate = sorted(rate_ratios)[len(rate_ratios) // 2]
    verdict = "inconclusive" if max(rate_ratios) - min(rate_ratios) > 0.1 else (
        "meets target" if median_rate >= 0.9 else "misses target")  # fmt: skip
    return [
        Figure("emission off: throughput (median round)",
               sorted(s.rate for s in samples["off"])[ROUNDS // 2], "tasks/s"),
        Figure("emission on: throughput (median round)",
               sorted(s.rate for s in samples["on"])[ROUNDS // 2], "tasks/s",
               f"{written:,} events written"),
        Figure("throughput on / off", median_rate, "x",
               f"min {min(rate_ratios):.3f}, max {max(rate_ratios):.3f}, {ROUNDS} rounds; "
               f"target >= 0.9x: {verdict}"),
        Figure("CPU per task on / off (worker + redis)", cpu.median, "x",
               f"min {cpu.low:.3f}, max {cpu.high:.3f}; PostgreSQL's CPU not included"),
    ]  # fmt: skip


def run(env: BenchEnv) -> list[Figure]:
    return _rollup_figures(env) + _emission_figures(env)
