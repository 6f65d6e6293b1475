"""`make run` (sheen-ops dev) with nothing configured: embedded services, beat and a worker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from sheen.embedded import port_open

ROOT = Path(__file__).resolve().parents[2]
SHEEN_OPS = str(Path(sys.executable).with_name("sheen-ops"))


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SHEEN_")}


def _wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return
        assert proc.poll() is None, f"sheen-ops dev exited with {proc.returncode}"
        time.sleep(0.2)
    raise AssertionError(f"{path} never appeared")


def _start(workdir: Path, log: Path) -> subprocess.Popen[str]:
    with log.open("w") as out:
        return subprocess.Popen(
            [SHEEN_OPS, "dev", "--concurrency", "1"],
            cwd=workdir,
            env=_clean_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )


def _stop(proc: subprocess.Popen[str]) -> set[int]:
    descendants = {p.pid for p in psutil.Process(proc.pid).children(recursive=True)}
    proc.send_signal(signal.SIGINT)
    assert proc.wait(60) == 0
    return descendants


def test_dev_fleet_runs_a_job_and_stops_cleanly(tmp_path):
    """No SHEEN_* set: services start, sheen-ops in another shell finds them, Ctrl-C leaves no process."""
    # Given a checkout-like working folder with nothing configured
    log = tmp_path / "dev.log"
    proc = _start(tmp_path, log)
    services = tmp_path / ".sheen" / "services.json"
    _wait_for(services, proc)
    urls = json.loads(services.read_text())
    assert set(urls) == {"broker_url", "redis_url", "database_url", "s3_endpoint_url"}
    objects = urls.pop("s3_endpoint_url")  # artifact buckets: a folder, kept across runs
    assert objects == (tmp_path / ".sheen" / "objects").resolve().as_uri()
    # When an operator runs a job from another terminal, with no variable set
    job = subprocess.run(
        [SHEEN_OPS, "jobs", "run", "jobs.ghost_build_detection", "--wait", "--timeout", "90"],
        cwd=tmp_path,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    # Then it succeeds against the embedded services
    assert job.returncode == 0, job.stderr + log.read_text()[-3000:]
    assert "state=succeeded" in job.stdout
    # And Ctrl-C stops every process it started, and forgets the services file
    descendants = _stop(proc)
    assert descendants, "the supervisor started child processes"
    time.sleep(0.5)
    alive = [
        pid
        for pid in descendants
        if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    ]
    assert alive == []
    assert not services.exists()
    for url in urls.values():  # PostgreSQL daemonizes: check its port, not the process tree
        port = int(url.split("@")[-1].split("//")[-1].split("/")[0].rsplit(":", 1)[1])
        assert not port_open(port), f"{url} still listening"
    # And a second run reuses the data: the job run recorded before is still there
    proc = _start(tmp_path, tmp_path / "dev2.log")
    _wait_for(services, proc)
    listed = subprocess.run(
        [SHEEN_OPS, "jobs", "list", "--json"],
        cwd=tmp_path,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    _stop(proc)
    ghost = next(j for j in json.loads(listed.stdout) if j["name"] == "jobs.ghost_build_detection")
    assert ghost["last_status"] == "success"
