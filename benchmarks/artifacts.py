"""Artifact cold move: 10,000 artifacts of 64 KiB to cold storage on a local S3 server.

A moto S3 server runs in its own process (real HTTP, boto3 unpatched). Each round
seeds the hot bucket and the rows, then runs, interleaved, each in a fresh process:
(a) a bare boto3 loop copying every object hot -> cold, one after the other, and (b)
the fleet's `move_to_cold` (checksum-verified copy, content-addressed key, the rows and
audit rows in PostgreSQL, batched hot deletes) with its bounded thread pool. Reported:
artifacts/s of each, the median of per-round throughput ratios (fleet / bare) with
min-max (target >= 0.7x), and the fleet process's peak RSS (target < 300 MiB).

    python -m benchmarks.run artifacts
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks.common import BenchEnv, Figure
from benchmarks.measure import scaled
from sheen.embedded import free_port, port_open

ARTIFACTS = scaled(10_000, 1_000)
SIZE = 64 * 1024
ROUNDS = scaled(3, 3)
HOT, COLD, BARE = "bench-hot", "bench-cold", "bench-bare"
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _content(i: int) -> bytes:
    seed = hashlib.sha256(f"artifact-{i}".encode()).digest()
    return (seed * (SIZE // len(seed) + 1))[:SIZE]


def _env(url: str) -> dict[str, str]:
    return {
        "SHEEN_S3_ENDPOINT_URL": url,
        "SHEEN_S3_ACCESS_KEY_ID": "bench",
        "SHEEN_S3_SECRET_ACCESS_KEY": "bench",
        "SHEEN_ARTIFACT_HOT_BUCKET": HOT,
        "SHEEN_ARTIFACT_COLD_BUCKET": COLD,
        "SHEEN_METRICS_PORT": "0",
    }


def _client(url: str) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",  # noqa: S106  (moto accepts any)
    )


def _bare() -> None:
    """The baseline: one boto3 client, copy_object for every hot key, one after another."""
    client = _client(os.environ["SHEEN_S3_ENDPOINT_URL"])
    keys = [f"artifacts/{i}" for i in range(int(os.environ["BENCH_COUNT"]))]
    began = time.perf_counter()
    for key in keys:
        client.copy_object(Bucket=BARE, Key=key, CopySource={"Bucket": HOT, "Key": key})
    seconds = time.perf_counter() - began
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "moved": len(keys), "rss_kib": rss}))


def _fleet() -> None:
    """The measured side: the cold-move job's service, as a worker runs it."""
    from sheen.artifacts import move_to_cold, open_store
    from sheen.db.engine import get_engine
    from sheen.settings import load_settings

    settings = load_settings()
    engine, store = get_engine(settings), open_store(settings)
    with engine.connect():
        pass
    began = time.perf_counter()
    totals = move_to_cold(
        engine, store, settings, T0 + timedelta(days=14), "bench", settings.job_batch_size
    )
    seconds = time.perf_counter() - began
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "moved": totals.affected, "rss_kib": rss}))


def _seed(env: BenchEnv, url: str, count: int) -> None:
    import psycopg

    reset = urllib.request.Request(f"{url}/moto-api/reset", method="POST")  # noqa: S310
    urllib.request.urlopen(reset, timeout=30).read()  # noqa: S310  (the local moto server)
    client = _client(url)
    for bucket in (HOT, COLD, BARE):
        client.create_bucket(Bucket=bucket)
    with ThreadPoolExecutor(16) as pool:
        list(
            pool.map(
                lambda i: client.put_object(Bucket=HOT, Key=f"artifacts/{i}", Body=_content(i)),
                range(count),
            )
        )
    with psycopg.connect(env.database_url) as conn:
        conn.execute(
            "TRUNCATE build_artifacts, builds, auth.users, cleanup_audit_log, audit_chain_heads"
            " CASCADE"
        )
        user, build, project = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        conn.execute("INSERT INTO auth.users (id) VALUES (%s)", (user,))
        conn.execute(
            "INSERT INTO builds (id, project_id, user_id, status) VALUES (%s, %s, %s, 'deployed')",
            (build, project, user),
        )
        with conn.cursor().copy(
            "COPY build_artifacts (id, project_id, build_id, storage_key, sha256, size_bytes,"
            " created_at, soft_deleted_at) FROM STDIN"
        ) as copy:
            for i in range(count):
                sha = hashlib.sha256(_content(i)).hexdigest()
                copy.write_row((uuid.uuid4(), project, build, f"artifacts/{i}", sha, SIZE, T0, T0))


def _side(env: BenchEnv, url: str, which: str, count: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", f"from benchmarks.artifacts import _{which}; _{which}()"],
        env=env.environ(**_env(url), BENCH_COUNT=str(count)),
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    data: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    if data["moved"] != count:
        raise RuntimeError(f"{which}: moved {data['moved']} of {count}")
    return data


def run(env: BenchEnv) -> list[Figure]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not port_open(port):
            if time.monotonic() > deadline:
                raise RuntimeError("moto server did not start")
            time.sleep(0.1)
        bare: list[dict[str, Any]] = []
        fleet: list[dict[str, Any]] = []
        for rnd in range(ROUNDS):
            _seed(env, url, ARTIFACTS)
            bare.append(_side(env, url, "bare", ARTIFACTS))
            fleet.append(_side(env, url, "fleet", ARTIFACTS))
            print(  # kept even if a later round fails
                f"# round {rnd + 1}: bare {ARTIFACTS / bare[-1]['seconds']:.1f}/s,"
                f" fleet {ARTIFACTS / fleet[-1]['seconds']:.1f}/s,"
                f" fleet RSS {fleet[-1]['rss_kib'] / 1024:.1f} MiB",
                flush=True,
            )
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:  # a busy werkzeug can sit on SIGTERM
            server.kill()
            server.wait()
    bare_rate = [ARTIFACTS / b["seconds"] for b in bare]
    fleet_rate = [ARTIFACTS / f["seconds"] for f in fleet]
    ratios = [f / b for f, b in zip(fleet_rate, bare_rate, strict=True)]
    peak = max(f["rss_kib"] for f in fleet) / 1024
    return [
        Figure(
            "bare boto3 copy loop",
            statistics.median(bare_rate),
            "artifacts/s",
            f"median of {ROUNDS}; {min(bare_rate):.0f}-{max(bare_rate):.0f}",
        ),
        Figure(
            "fleet move_to_cold (verify, record, delete hot)",
            statistics.median(fleet_rate),
            "artifacts/s",
            f"median of {ROUNDS}; {min(fleet_rate):.0f}-{max(fleet_rate):.0f}",
        ),
        Figure(
            "fleet / bare throughput",
            statistics.median(ratios),
            "x",
            f"per-round min {min(ratios):.2f}, max {max(ratios):.2f}; target >= 0.7",
        ),
        Figure("fleet peak RSS", peak, "MiB", f"{ARTIFACTS:,} x 64 KiB; target < 300"),
    ]
