"""Staging and production refuse development defaults: every entry point, real processes.

The refused processes exit before they touch a broker or a database, so the URLs
below point nowhere; the one process that must start gets a Redis with a password.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import redis

from sheen.devserver import celery
from sheen.embedded import free_port, redis_server_binary
from tests.deploy_support import wait_for_text, wait_port

ROOT = Path(__file__).resolve().parents[2]
SHEEN_OPS = str(Path(sys.executable).with_name("sheen-ops"))
SAFE = {
    "SHEEN_ENV": "production",
    "SHEEN_BROKER_URL": "redis://:s3cret-broker-pw@127.0.0.1:1/0",
    "SHEEN_REDIS_URL": "redis://:s3cret-broker-pw@127.0.0.1:1/1",
    "SHEEN_DATABASE_URL": "postgresql://sheen:s3cret-db-pw@127.0.0.1:1/sheen",
    "FLOWER_BASIC_AUTH": "ops:a-real-flower-password",
}
REFUSALS = {
    "jwt secret": ({"SHEEN_JWT_SECRET": "x" * 48}, "SHEEN_JWT_SECRET"),
    "no redis password": (
        {"SHEEN_REDIS_URL": "redis://127.0.0.1:1/1"},
        "SHEEN_REDIS_URL has no Redis password",
    ),
    "example database password": (
        {"SHEEN_DATABASE_URL": "postgresql://sheen:change-me-postgres@127.0.0.1:1/sheen"},
        "SHEEN_DATABASE_URL carries an example password from .env.example",
    ),
}
ENTRIES = {
    "worker": [*celery("worker", "--pool", "prefork", "-c", "1")],
    "beat": [*celery("beat")],
    "sidecar": [SHEEN_OPS, "sidecar", "--port", "1"],
    "flower": [SHEEN_OPS, "flower", "--port", "1"],
    "migrate": [SHEEN_OPS, "migrate"],
}


def run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def assert_refused(proc: subprocess.CompletedProcess[str], named: str) -> None:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert len(lines) == 1, proc.stderr[-2000:]
    assert "refuses to start in production" in lines[0]
    assert named in lines[0]


@pytest.mark.parametrize("refusal", sorted(REFUSALS))
def test_worker_refuses_each_development_default(services, tmp_path, refusal):
    """A production worker with a development default exits 2 on one line naming the setting."""
    # Given production settings with one development default
    override, named = REFUSALS[refusal]
    env = services.env(**{**SAFE, "SHEEN_STATE_DIR": str(tmp_path), **override})
    # When a worker starts
    proc = run(ENTRIES["worker"], env)
    # Then it refuses before doing anything, naming the setting
    assert_refused(proc, named)
    assert not (tmp_path / "metrics").exists()  # refused before the metrics folder was made


@pytest.mark.parametrize("entry", ["beat", "sidecar", "flower", "migrate"])
def test_every_entry_point_refuses(services, entry):
    """Beat, the sidecar, Flower and `sheen-ops migrate` refuse a Redis URL without a password."""
    # Given production settings whose Redis URL has no password
    override, named = REFUSALS["no redis password"]
    # When the entry point starts
    proc = run(ENTRIES[entry], services.env(**{**SAFE, **override}))
    # Then it exits 2 naming the setting
    assert_refused(proc, named)


def test_a_production_worker_with_real_secrets_starts(services, tmp_path):
    """With a Redis password and no development default, a production worker gets to ready."""
    # Given a Redis that requires a password, and production settings that carry it
    port = free_port()
    server = subprocess.Popen(
        [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--requirepass", "s3cret-broker-pw", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_port(port)
        url = f"redis://:s3cret-broker-pw@127.0.0.1:{port}"
        env = services.env(
            **{
                **SAFE,
                "SHEEN_BROKER_URL": f"{url}/0",
                "SHEEN_REDIS_URL": f"{url}/1",
                "SHEEN_DATABASE_URL": services.database_url,
                "SHEEN_STATE_DIR": str(tmp_path / "state"),
                "SHEEN_METRICS_PORT": "0",
            }
        )
        # When a worker starts
        log = tmp_path / "worker.log"
        with log.open("wb") as out:
            worker = subprocess.Popen(
                [*ENTRIES["worker"], "-n", f"prod-{port}@%h", "--without-mingle", "--without-gossip"],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            # Then it connects with the password and is ready
            wait_for_text(log, " ready.", worker)
            assert redis.Redis(port=port, password="s3cret-broker-pw").ping()
        finally:
            worker.terminate()
            worker.wait(20)
    finally:
        server.terminate()
        server.wait(10)
