"""trust_safety.notify: 10,000 notifications to 10,000 users through real workers and a real
SMTP server (aiosmtpd, in this process), against fleet.ping in the same run.

Rounds interleave ping and notify (P N P N P N); each notify round sends to its own slice
of the 10,000 users (one e-mail each, none rate-limited), so the three rounds together
are the 10,000 notifications. Each side drains a queue filled while no worker ran
(benchmarks/workload.py), on a prefork worker of concurrency 2. Reported: wall-clock
notifications/s and CPU per task (worker tree + redis-server; PostgreSQL and the SMTP
server are not counted), each as the median round, and notify/ping as the median of the
per-round ratios with min-max.

The rate-limit check's own cost is measured in PostgreSQL: the statement that records a
counted notification, timed with the limit and without it (the exclusion constraint
dropped, or the trigger disabled, inside a transaction rolled back), interleaved over
rounds; on the bench database (btree_gist: exclusion constraint) and on pgserver's
PostgreSQL (no btree_gist: the locking trigger). The cost of a request that hits the limit
(conflict, then the suppressed row) is reported beside it.
"""

from __future__ import annotations

import base64
import copy
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import Engine, create_engine, text

from benchmarks.common import BenchEnv, Figure
from benchmarks.measure import ProcessTree, Sample, compare, scaled
from benchmarks.workload import DrainSpec, _remaining, drain, redis_pid, start_worker
from sheen.db.queries import query

USERS = scaled(10_000, 600)
ROUNDS = 3
LIMIT_ROWS = scaled(2_000, 300)
MARGIN = 0.05
NOTIFY = "trust_safety.notify"


@contextmanager
def _smtp_server() -> Iterator[tuple[int, list[int]]]:
    from aiosmtpd.controller import Controller

    from sheen.embedded import free_port

    received = [0]
    lock = threading.Lock()

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            with lock:
                received[0] += 1
            return "250 OK"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, received
    finally:
        controller.stop()


def _add_users(engine: Engine, count: int) -> list[uuid.UUID]:
    users = [uuid.uuid4() for _ in range(count)]
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO auth.users (id, email) VALUES (:id, :email)"),
            [{"id": u, "email": f"bench-{u.hex[:12]}@example.test"} for u in users],
        )
    return users


def _fill_notify(app: Any, client: redis.Redis, queue: str, users: list[uuid.UUID]) -> None:
    """One message per user: a Celery message copied with its own id and kwargs."""
    client.delete(queue)
    app.send_task(
        NOTIFY, kwargs={"user_id": str(users[0]), "category": "account_warning"},
        queue=queue, ignore_result=True,
    )  # fmt: skip
    raw = client.rpop(queue)
    if raw is None:
        raise RuntimeError(f"no message landed in {queue!r}")
    template = json.loads(raw)
    pipe = client.pipeline(transaction=False)
    for n, user in enumerate(users):
        message = copy.deepcopy(template)
        task_id = str(uuid.uuid4())
        headers, props = message["headers"], message["properties"]
        headers["id"] = headers["root_id"] = props["correlation_id"] = task_id
        props["delivery_tag"] = str(uuid.uuid4())
        if "trace_id" in headers:
            headers["trace_id"] = uuid.uuid4().hex
        body = json.loads(base64.b64decode(message["body"]))
        body[1]["user_id"] = str(user)
        headers["kwargsrepr"] = repr(body[1])
        message["body"] = base64.b64encode(json.dumps(body).encode()).decode()
        pipe.lpush(queue, json.dumps(message))
        if n % 2000 == 1999:
            pipe.execute()
    pipe.execute()


def _drain_notify(
    env: BenchEnv, app: Any, users: list[uuid.UUID], smtp_port: int, label: str
) -> Sample:
    spec = DrainSpec("workers.app", NOTIFY, "jobs")
    environ = env.environ(
        SHEEN_METRICS_PORT="0", SHEEN_SMTP_HOST="127.0.0.1", SHEEN_SMTP_PORT=str(smtp_port)
    )
    client = redis.Redis.from_url(environ["SHEEN_BROKER_URL"])
    redis.Redis.from_url(environ["SHEEN_REDIS_URL"]).flushdb()
    client.flushdb()
    _fill_notify(app, client, spec.queue, users)
    proc = start_worker(spec, environ, env.tmp / f"{label}.log")
    deadline = time.monotonic() + 600
    try:
        tree = ProcessTree(proc.pid, extra=[redis_pid(client)], extra_names=["redis"])
        while client.llen(spec.queue) >= len(users):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{label}: worker exited ({proc.returncode}) or never consumed")
            time.sleep(0.002)
        before = tree.cpu()
        began = time.perf_counter()
        counted = _remaining(client, spec.queue)
        while _remaining(client, spec.queue):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{label}: did not drain")
            time.sleep(0.05)
        return Sample(
            tasks=counted, cpu=tree.cpu() - before, wall_seconds=time.perf_counter() - began
        )
    finally:
        proc.terminate()
        proc.wait(60)


# --- the rate-limit check in PostgreSQL ---------------------------------------------------


def _time_inserts(engine: Engine, users: list[uuid.UUID], tag: str, without: str | None) -> float:
    """Seconds to record one counted notification per user, in one rolled-back transaction."""
    with engine.connect() as conn:
        trans = conn.begin()
        if without:
            conn.execute(text(without))
        statement = query("notifications", "insert_counted")
        params = [
            {"user_id": u, "category": "account_warning", "locale": "en", "params": "{}",
             "request_key": f"{tag}-{u}"}
            for u in users
        ]  # fmt: skip
        began = time.perf_counter()
        for p in params:
            conn.execute(statement, p)
        elapsed = time.perf_counter() - began
        trans.rollback()
    return elapsed


def _time_suppressed(engine: Engine, users: list[uuid.UUID], tag: str) -> float:
    """Seconds to record one request per user that hits the limit (each already notified)."""
    from sheen.notifications.store import NewNotification, record

    with engine.connect() as conn:
        trans = conn.begin()
        for u in users:
            record(conn, NewNotification(u, "account_warning", "en", {}, f"{tag}-a-{u}"), True)
        began = time.perf_counter()
        for u in users:
            record(conn, NewNotification(u, "account_warning", "en", {}, f"{tag}-b-{u}"), True)
        elapsed = time.perf_counter() - began
        trans.rollback()
    return elapsed


def _limit_figures(engine: Engine, users: list[uuid.UUID], mode: str, without: str) -> list[Figure]:
    with_s, without_s, hit_s = [], [], []
    for rnd in range(ROUNDS):
        with_s.append(_time_inserts(engine, users, f"w{rnd}", None))
        without_s.append(_time_inserts(engine, users, f"n{rnd}", without))
        hit_s.append(_time_suppressed(engine, users, f"s{rnd}"))
        print(
            f"  limit {mode} round {rnd + 1}: with {with_s[-1] / len(users) * 1e6:6.1f} us, "
            f"without {without_s[-1] / len(users) * 1e6:6.1f} us, "
            f"hit {hit_s[-1] / len(users) * 1e6:6.1f} us per request",
            flush=True,
        )
    diffs = sorted((w - n) / len(users) * 1e6 for w, n in zip(with_s, without_s, strict=True))
    cmp = compare(with_s, without_s, target=1.0, margin=MARGIN)
    return [
        Figure(
            f"rate-limit check cost ({mode})", diffs[len(diffs) // 2], "us/notification",
            f"median of {ROUNDS} rounds of {len(users):,} inserts, min-max "
            f"{diffs[0]:.1f}-{diffs[-1]:.1f} us; insert with/without {cmp.median:.2f}x",
        ),
        Figure(
            f"request that hits the limit ({mode})",
            sorted(hit_s)[len(hit_s) // 2] / len(users) * 1e6, "us/request",
            "conflict (or trigger) and the suppressed row",
        ),
    ]  # fmt: skip


def _embedded_limit(env: BenchEnv) -> list[Figure]:
    """The same measurement on pgserver's PostgreSQL (no btree_gist: the locking trigger)."""
    from pgserver._commands import POSTGRES_BIN_PATH

    from sheen.db.migrate import upgrade
    from sheen.embedded import EmbeddedPostgres, free_port

    pg = EmbeddedPostgres(
        env.tmp / "pgserver",
        free_port(),
        database="bench_embedded",
        bin_dir=Path(POSTGRES_BIN_PATH),
    ).start()
    try:
        url = pg.url.replace("postgresql://", "postgresql+psycopg://")
        upgrade(url)
        engine = create_engine(url)
        users = _add_users(engine, LIMIT_ROWS)
        figures = _limit_figures(
            engine, users, "trigger, pgserver",
            "ALTER TABLE trust_safety_notifications DISABLE TRIGGER trust_safety_notifications_rate_limit",
        )  # fmt: skip
        engine.dispose()
        return figures
    finally:
        pg.stop()


def run(env: BenchEnv) -> list[Figure]:
    from sheen.db.engine import get_engine
    from workers.app import app as fleet

    engine = get_engine()
    users = _add_users(engine, USERS)
    per_round = -(-len(users) // ROUNDS)
    slices = [users[i * per_round : (i + 1) * per_round] for i in range(ROUNDS)]
    ping = DrainSpec("workers.app", "fleet.ping", "jobs", options={"ignore_result": True})
    samples: dict[str, list[Sample]] = {"ping": [], "notify": []}
    with _smtp_server() as (port, received):
        for rnd, chunk in enumerate(slices):
            samples["ping"].append(drain(env, ping, fleet, len(chunk), f"tsn-ping-{rnd}"))
            samples["notify"].append(_drain_notify(env, fleet, chunk, port, f"tsn-notify-{rnd}"))
            for side in ("ping", "notify"):
                s = samples[side][-1]
                print(
                    f"  round {rnd + 1} {side:<7} {s.rate:8,.1f} tasks/s  "
                    f"{s.cpu_per_task * 1e3:6.2f} ms CPU/task",
                    flush=True,
                )
        delivered = received[0]
    with engine.connect() as conn:
        sent = conn.execute(
            text("SELECT count(*) FROM trust_safety_notifications WHERE status = 'sent'")
        ).scalar_one()

    def med(values: list[float]) -> float:
        return sorted(values)[len(values) // 2]

    rate = compare(
        [s.rate for s in samples["notify"]], [s.rate for s in samples["ping"]], 1.0, MARGIN
    )
    cpu = compare(
        [s.cpu_per_task for s in samples["notify"]],
        [s.cpu_per_task for s in samples["ping"]],
        1.0,
        MARGIN,
    )
    lo, hi = min(rate.ratios), max(rate.ratios)
    figures = [
        Figure("notifications sent (e-mails received)", delivered, "",
               f"{sent:,} rows sent, {len(users):,} users, {ROUNDS} rounds"),
        Figure("notify: wall-clock rate (median round)", med([s.rate for s in samples["notify"]]),
               "notifications/s"),
        Figure("fleet.ping: wall-clock rate (median round)", med([s.rate for s in samples["ping"]]),
               "tasks/s"),
        Figure("notify / ping, wall-clock rate", rate.median, "x",
               f"min-max {lo:.3f}-{hi:.3f}, {ROUNDS} interleaved rounds"),
        Figure("notify: CPU per task (median round)",
               med([s.cpu_per_task for s in samples["notify"]]) * 1e3, "ms",
               "worker tree + redis; PostgreSQL and the SMTP server not counted"),
        Figure("notify / ping, CPU per task", cpu.median, "x",
               f"min-max {min(cpu.ratios):.2f}-{max(cpu.ratios):.2f}"),
    ]  # fmt: skip
    limit_users = users[:LIMIT_ROWS]
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE appeal_tickets, trust_safety_notifications"))
    figures += _limit_figures(
        engine, limit_users, "exclusion constraint",
        "ALTER TABLE trust_safety_notifications DROP CONSTRAINT ex_tsn_one_per_12h",
    )  # fmt: skip
    figures += _embedded_limit(env)
    return figures
