"""A normal start is clean: no warning or error line; metrics from every pool child reach the scrape."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from sheen.devserver import celery
from sheen.embedded import free_port
from tests.acceptance.metrics_support import total, wait_for
from tests.deploy_support import wait_for_text, wait_port

ROOT = Path(__file__).resolve().parents[2]
SHEEN_OPS = str(Path(sys.executable).with_name("sheen-ops"))
# Warning-or-worse in every format the fleet's processes write: structlog console and JSON,
# gunicorn, tornado (Flower), Celery's own format, Python warnings and tracebacks.
BAD_LINE = re.compile(
    r"\[(warning|error|critical|exception)\s*\]"
    r"|\"level\": \"(warning|error|critical)\""
    r"|\[(WARNING|ERROR|CRITICAL)\]"
    r"|^\[[WEC] \d{6} "
    r"|(WARNING|ERROR|CRITICAL)/(Main|Fork|Beat)"
    r"|\w+Warning: "
    r"|Traceback \(most recent call last\)",
    re.IGNORECASE | re.MULTILINE,
)
# Celery warns whenever a worker runs as root; the image runs as the unprivileged `sheen`
# user, where this line does not appear. Only a test run as root tolerates it.
ROOT_ONLY = "SecurityWarning: You're running the worker with superuser privileges"


def bad_lines(text: str) -> list[str]:
    lines = [line for line in text.splitlines() if BAD_LINE.search(line)]
    if os.geteuid() == 0:
        lines = [line for line in lines if ROOT_ONLY not in line]
    return lines


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (http://127.0.0.1)
            return response.status == 200
    except OSError:
        return False


def test_worker_beat_sidecar_and_flower_start_without_a_warning(
    services, start_worker, tmp_path, db
):
    """Worker, beat, sidecar and Flower start, run and stop with no warning or error line."""
    # Given the four fleet processes on the test services
    env = services.env(FLOWER_BASIC_AUTH="ops:clean-start-password")
    worker = start_worker(concurrency=2, extra_args=("-E",), SHEEN_METRICS_PORT=str(free_port()))
    logs = {"worker": worker.log_path}
    procs: dict[str, subprocess.Popen[bytes]] = {}
    sidecar_port, flower_port = free_port(), free_port()
    argv = {
        "beat": celery("beat", "-s", str(tmp_path / "celerybeat-schedule")),
        "sidecar": [SHEEN_OPS, "sidecar", "--port", str(sidecar_port), "--workers", "1"],
        "flower": [SHEEN_OPS, "flower", f"--port={flower_port}", "--address=127.0.0.1"],
    }
    try:
        # When each starts normally and serves
        for name, command in argv.items():
            logs[name] = tmp_path / f"{name}.log"
            with logs[name].open("wb") as out:
                procs[name] = subprocess.Popen(
                    command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
                )
        wait_for_text(logs["beat"], "beat: Starting...", procs["beat"])
        wait_port(sidecar_port)
        wait_port(flower_port)
        deadline = time.monotonic() + 30
        while not (
            http_ok(f"http://127.0.0.1:{sidecar_port}/healthz")
            and http_ok(f"http://127.0.0.1:{flower_port}/healthcheck")
        ):
            assert time.monotonic() < deadline, "sidecar or flower not healthy"
            time.sleep(0.2)
        # and the compose health checks pass against them
        node = worker.name.replace("%h", socket.gethostname())
        for check in (
            [*celery("inspect", "ping", "-d", node, "--timeout", "10")],
            [sys.executable, "-m", "sheen.deploy.healthcheck", "beat"],
            [
                sys.executable,
                "-m",
                "sheen.deploy.healthcheck",
                "sidecar",
                "--port",
                str(sidecar_port),
            ],
        ):
            result = subprocess.run(
                check, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
            )
            assert result.returncode == 0, (check, result.stdout, result.stderr)
        time.sleep(3)  # Flower inspects the workers; beat ticks; the worker's children idle
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            proc.wait(30)
        worker.stop()
    # Then no process wrote a warning or an error line, from start to stop
    for name, path in logs.items():
        text = path.read_text(errors="replace")
        assert text.strip(), f"{name} wrote nothing"
        assert bad_lines(text) == [], f"{name}:\n{text[-4000:]}"
    assert "metrics_defined_before_multiproc_dir" not in logs["worker"].read_text()
    # and with beat stopped its health check fails (its lease is gone)
    check = [sys.executable, "-m", "sheen.deploy.healthcheck", "beat"]
    result = subprocess.run(check, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("unhealthy:")


def test_unlabelled_and_labelled_metrics_from_two_children_reach_the_scrape(
    start_worker, celery_app, db
):
    """A counter made at import and a labelled fleet counter, each incremented in two pool children, both add up to 2."""
    # Given a prefork worker with two children and a probe module with an unlabelled counter
    port = free_port()
    start_worker(
        concurrency=2,
        SHEEN_METRICS_PORT=str(port),
        SHEEN_EXTRA_TASK_MODULES="tests.probes.metrics_probe",
    )
    # When two barrier tasks run at the same time (so in two different children)
    results = [
        celery_app.send_task("probe.barrier", kwargs={"name": f"scrape-{port}", "n": n})
        for n in range(2)
    ]
    pids = {result.get(timeout=60)["pid"] for result in results}
    assert len(pids) == 2, pids
    # Then the scrape adds both children's increments of both counters
    samples = wait_for(
        port,
        lambda s: (
            total(s, "sheen_probe_hits_total") >= 2
            and total(s, "sheen_job_runs_total", job="probe.barrier", status="success") >= 2
        ),
    )
    assert total(samples, "sheen_probe_hits_total") == 2
    assert total(samples, "sheen_job_runs_total", job="probe.barrier", status="success") == 2
