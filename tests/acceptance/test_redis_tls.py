"""A worker on a TLS-only Redis (rediss://, server verified against our own CA) runs fleet.ping."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from celery import Celery

from sheen.deploy import tls
from sheen.embedded import free_port, redis_server_binary
from sheen.settings import parse_settings
from tests.deploy_support import Pki, make_pki, wait_port

PASSWORD = "tls-test-password"


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[tuple[str, Pki]]:
    """redis-server with TLS only (`--port 0`), a password, and a CA made for this test."""
    pki = make_pki(tmp_path / "pki")
    port = free_port()
    server = subprocess.Popen(
        [redis_server_binary(), "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
         "--tls-cert-file", str(pki.cert), "--tls-key-file", str(pki.key),
         "--tls-ca-cert-file", str(pki.ca), "--tls-auth-clients", "no",
         "--requirepass", PASSWORD, "--save", "", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_port(port)
        yield f"rediss://:{PASSWORD}@127.0.0.1:{port}", pki
    finally:
        server.terminate()
        server.wait(10)


def test_fleet_ping_runs_through_a_worker_over_rediss(tls_redis, start_worker):
    """Broker, results and fleet state on rediss:// with SHEEN_REDIS_TLS_CA_FILE: ping comes back."""
    # Given a TLS-only Redis and a worker whose broker and Redis URLs are rediss://
    base, pki = tls_redis
    env = {
        "SHEEN_BROKER_URL": f"{base}/0",
        "SHEEN_REDIS_URL": f"{base}/1",
        "SHEEN_REDIS_TLS_CA_FILE": str(pki.ca),
        "SHEEN_METRICS_PORT": "0",
    }
    start_worker(concurrency=1, **env)
    # When a client configured from the same settings sends fleet.ping
    settings = parse_settings(env)
    client = Celery("tls-client", broker=settings.broker_url, backend=settings.redis_url)
    client.conf.update(tls.celery_ssl_options(settings), task_default_queue="jobs")
    try:
        result = client.send_task("fleet.ping", kwargs={})
        # Then the worker answers over TLS
        assert result.get(timeout=60) == {"pong": True}
    finally:
        client.close()
    # and the server's certificate really is checked: without our CA the handshake fails
    url = f"{base}/1"
    with pytest.raises(redis.ConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
        redis.Redis.from_url(url, **tls.redis_tls_kwargs(url, parse_settings({}))).ping()
