"""Flower on the test broker lists the running worker and a finished task through its API."""

from __future__ import annotations

import json
import subprocess
import time
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
