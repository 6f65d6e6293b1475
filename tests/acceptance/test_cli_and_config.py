"""The operator's entry points: bad configuration exits 2 on one line; sheen-ops drives jobs."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sheen.devserver import celery
from sheen.services.state_sources import dead_letter_registry
from sheen.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
SHEEN_OPS = str(Path(sys.executable).with_name("sheen-ops"))
CELERY = celery()


def run(argv, env, timeout=60):
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize(
    ("variable", "value"),
    [("SHEEN_ENV", "prod"), ("SHEEN_DATABASE_URL", "mysql://h/db"), ("SHEEN_BROKER_URL", "::")],
)
@pytest.mark.parametrize("entry", ["sheen-ops", "worker", "beat"])
def test_bad_setting_exits_2_with_one_line(services, variable, value, entry):
    """Each entry point refuses a bad value with exit status 2 and one line, no traceback."""
    argv = {
        "sheen-ops": [SHEEN_OPS, "jobs", "list"],
        "worker": [*CELERY, "worker", "--pool", "prefork", "-c", "1"],
        "beat": [*CELERY, "beat"],
    }[entry]
    proc = run(argv, services.env(**{variable: value}))
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert variable in lines[0]
    assert "Traceback" not in proc.stderr


def test_help_on_every_command(services):
    """`--help` works on the group and every command."""
    for argv in ([], ["migrate"], ["jobs"], ["jobs", "list"], ["jobs", "run"], ["dev"]):
        proc = run([SHEEN_OPS, *argv, "--help"], services.env())
        assert proc.returncode == 0, proc.stderr
        assert "Usage:" in proc.stdout


def test_inspect_registered_lists_the_scheduled_jobs(services, start_worker):
    """`celery -A workers.app inspect registered` shows the four scheduled jobs."""
    worker = start_worker(concurrency=1)
    proc = run(
        [*CELERY, "inspect", "registered", "-d", worker.name.replace("%h", _host())], services.env()
    )
    assert proc.returncode == 0, proc.stderr
    for job in (
        "jobs.daily_reset",
        "jobs.ghost_build_detection",
        "jobs.daily_bonus_reset",
        "jobs.cleanup_artifacts",
    ):
        assert job in proc.stdout


def test_jobs_run_wait_and_list(db, services, start_worker):
    """`jobs run --wait` prints the result and exits 0; `jobs list --json` then shows the run."""
    start_worker(concurrency=1)
    proc = run(
        [
            SHEEN_OPS,
            "jobs",
            "run",
            "jobs.ghost_build_detection",
            "--wait",
            "--json",
            "--period",
            "2026-11-25T10:00Z",
        ],
        services.env(),
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["state"] == "succeeded"
    assert result["result"]["as_of"] == "2026-11-25T10:00:00+00:00"
    listed = json.loads(run([SHEEN_OPS, "jobs", "list", "--json"], services.env()).stdout)
    ghost = next(j for j in listed if j["name"] == "jobs.ghost_build_detection")
    assert ghost["last_status"] == "success"
    assert ghost["expected_runtime_seconds"] == 60


def test_bad_period_is_a_usage_error_and_bad_payload_fails_worker_side(db, services, start_worker):
    """An impossible --period exits 2 before enqueueing; an out-of-range payload fails on the worker."""
    start_worker(concurrency=1)
    proc = run(
        [SHEEN_OPS, "jobs", "run", "jobs.daily_reset", "--wait", "--period", "2026-02-30"],
        services.env(),
    )
    assert proc.returncode == 2  # a bad --period is a usage error, caught before enqueueing
    assert "--period" in proc.stderr
    # a payload the worker rejects (batch_size bounds are enforced worker-side)
    from workers.app import app

    result = app.send_task("jobs.daily_reset", kwargs={"batch_size": 0})
    with pytest.raises(Exception, match="batch_size"):
        result.get(timeout=30)


def _host() -> str:
    import socket

    return socket.gethostname()


def test_jobs_run_wait_exits_1_when_the_job_fails(db, services, start_worker):
    """A job that fails on the worker (its database is gone) makes `jobs run --wait` exit 1."""
    # Given a worker whose database does not exist (retries kept short)
    gone = services.database_url.rsplit("/", 1)[0] + "/no_such_database"
    start_worker(
        concurrency=1,
        SHEEN_DATABASE_URL=gone,
        SHEEN_RETRY_BACKOFF_SECONDS="0.05",
        SHEEN_RETRY_BACKOFF_MAX_SECONDS="0.1",
    )
    # When the operator runs a job and waits
    proc = run(
        [SHEEN_OPS, "jobs", "run", "jobs.daily_reset", "--wait", "--timeout", "60", "--json"],
        services.env(),
        timeout=90,
    )
    # Then the command fails with the error, not a traceback
    assert proc.returncode == 1, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert result["state"] == "failed"
    assert result["error"].startswith("RetriesExhausted"), "a database outage is retried first"
    assert "OperationalError" in result["error"]


def test_test_alert_command_enqueues_the_synthetic_failure(db, services, start_worker):
    """`jobs test-alert --mode fail` enqueues fleet.test_alert, which fails and is dead-lettered."""
    start_worker(concurrency=1)
    proc = run([SHEEN_OPS, "jobs", "test-alert", "--mode", "fail", "--json"], services.env())
    assert proc.returncode == 0, proc.stderr
    task_id = json.loads(proc.stdout)["task_id"]
    registry = dead_letter_registry(load_settings())
    deadline = time.monotonic() + 30
    while registry.get(task_id) is None and time.monotonic() < deadline:
        time.sleep(0.2)
    letter = registry.get(task_id)
    assert letter is not None and letter.task == "fleet.test_alert"
