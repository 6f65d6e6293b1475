"""Flower on the test broker: the worker and a finished task in its API; the fleet's entry point keeps it authenticated."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from sheen.devserver import celery
from sheen.embedded import free_port, port_open

ROOT = Path(__file__).resolve().parents[2]


def get(port: int, path: str) -> object:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture
def flower(services, tmp_path):
    port = free_port()
    log = (tmp_path / "flower.log").open("wb")
    proc = subprocess.Popen(
        [*celery("flower"), f"--port={port}",
         "--address=127.0.0.1"],
        cwd=ROOT, env=services.env(FLOWER_UNAUTHENTICATED_API="true"),
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while not port_open(port):
        assert proc.poll() is None, (tmp_path / "flower.log").read_text()[-2000:]
        assert time.monotonic() < deadline, "flower did not start"
        time.sleep(0.1)
    yield port
    proc.terminate()
    proc.wait(20)


def test_flower_lists_the_worker_and_a_finished_task(flower, start_worker, celery_app, db):
    """/api/workers names the running worker; /api/tasks shows fleet.ping as SUCCESS."""
    # Given a worker sending task events and Flower listening to the same broker
    worker = start_worker(concurrency=1, extra_args=("-E",), SHEEN_METRICS_PORT="0")
    # When a task runs
    result = celery_app.send_task("fleet.ping", kwargs={})
    result.get(timeout=30)
    # Then Flower lists the worker and the finished task
    hostname = worker.name.replace("%h", "")
    deadline = time.monotonic() + 30
    workers: dict = {}
    task: dict = {}
    while time.monotonic() < deadline and not (workers and task.get("state") == "SUCCESS"):
        workers = get(flower, "/api/workers?refresh=1")  # type: ignore[assignment]
        tasks = get(flower, "/api/tasks")
        task = tasks.get(result.id, {}) if isinstance(tasks, dict) else {}
        time.sleep(0.5)
    assert any(name.startswith(hostname) for name in workers), workers
    assert task.get("state") == "SUCCESS", task
    assert task.get("name") == "fleet.ping"
    # and Flower's own Prometheus metrics are there
    with urllib.request.urlopen(f"http://127.0.0.1:{flower}/metrics", timeout=10) as response:
        assert b"flower_events_total" in response.read()


SHEEN_OPS = str(Path(sys.executable).with_name("sheen-ops"))
FLOWER_USER, FLOWER_PASSWORD = "ops", "flower-test-password"


def status(port: int, path: str, auth: tuple[str, str] | None = None) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (http://127.0.0.1)
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.fixture
def authed_flower(services, tmp_path):
    """`sheen-ops flower` with its credentials in a file, as a Docker secret would give them."""
    secret = tmp_path / "flower_basic_auth"
    secret.write_text(f"{FLOWER_USER}:{FLOWER_PASSWORD}\n")
    port = free_port()
    log = (tmp_path / "flower.log").open("wb")
    proc = subprocess.Popen(
        [SHEEN_OPS, "flower", f"--port={port}", "--address=127.0.0.1"],
        cwd=ROOT, env=services.env(FLOWER_BASIC_AUTH_FILE=str(secret)),
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while not port_open(port):
        assert proc.poll() is None, (tmp_path / "flower.log").read_text()[-2000:]
        assert time.monotonic() < deadline, "flower did not start"
        time.sleep(0.1)
    yield port
    proc.terminate()
    proc.wait(20)


def test_flower_answers_401_without_credentials_and_200_with(authed_flower):
    """The fleet's Flower entry point puts the UI and the API behind basic auth."""
    # Given `sheen-ops flower` started with credentials from a secret file
    port = authed_flower
    # When the UI and the API are asked without, with wrong and with the right credentials
    # Then only the right credentials get in
    for path in ("/", "/api/workers", "/api/tasks"):
        assert status(port, path) == 401, path
        assert status(port, path, (FLOWER_USER, "wrong-password-here")) == 401, path
        assert status(port, path, (FLOWER_USER, FLOWER_PASSWORD)) == 200, path


def test_flower_outside_development_refuses_to_start_without_credentials(services):
    """In staging `sheen-ops flower` without FLOWER_BASIC_AUTH exits 2 with one line."""
    # Given staging settings that pass the fleet's own refusals but no Flower credentials
    env = services.env(
        SHEEN_ENV="staging",
        SHEEN_BROKER_URL="redis://:s3cret-broker-pw@127.0.0.1:1/0",
        SHEEN_REDIS_URL="redis://:s3cret-broker-pw@127.0.0.1:1/1",
    )
    # When Flower is started through the fleet's entry point
    proc = subprocess.run(
        [SHEEN_OPS, "flower", f"--port={free_port()}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    # Then it refuses on one line
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and "FLOWER_BASIC_AUTH" in lines[0], proc.stderr
