"""An unreachable PostgreSQL, Redis or broker: every sheen-ops command and the worker print
one line naming the service, its URL without the password and the setting; exit 1."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sheen.devserver import celery
from sheen.embedded import free_port

ROOT = Path(__file__).resolve().parents[2]
SHEEN_OPS = str(Path(sys.executable).with_name("sheen-ops"))
CLOSED = free_port()  # nothing listens here
PASSWORD = "s3cret-pw"

# (command, the settings it touches first, the service the line must name)
COMMANDS = [
    (["jobs", "list"], "SHEEN_DATABASE_URL", "PostgreSQL"),
    (["migrate"], "SHEEN_DATABASE_URL", "PostgreSQL"),
    (["dev", "seed", "--users", "5"], "SHEEN_DATABASE_URL", "PostgreSQL"),
    (["dlq", "list"], "SHEEN_BROKER_URL", "Broker"),
    (["dlq", "requeue", "--all"], "SHEEN_BROKER_URL", "Broker"),
    (["jobs", "run", "jobs.daily_reset"], "SHEEN_BROKER_URL", "Broker"),
    (["jobs", "run", "jobs.daily_reset", "--wait", "--timeout", "5"], "SHEEN_REDIS_URL", "Redis"),
]


def closed_url(setting: str) -> str:
    if setting == "SHEEN_DATABASE_URL":
        return f"postgresql://sheen:{PASSWORD}@127.0.0.1:{CLOSED}/sheen"
    return f"redis://:{PASSWORD}@127.0.0.1:{CLOSED}/0"


def assert_one_actionable_line(proc: subprocess.CompletedProcess, setting: str, service: str):
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert len(lines) == 1, proc.stderr
    line = lines[0]
    assert f"{service} unreachable at " in line, line
    assert f"127.0.0.1:{CLOSED}" in line and ":***@" in line, line
    assert PASSWORD not in proc.stderr + proc.stdout
    assert f"change {setting}" in line, line


@pytest.mark.parametrize(("argv", "setting", "service"), COMMANDS, ids=str)
def test_sheen_ops_names_the_unreachable_service(services, argv, setting, service):
    """Given one service on a closed port, the command exits 1 with one line naming it."""
    # Given
    env = services.env(**{setting: closed_url(setting)})
    # When
    proc = subprocess.run(
        [SHEEN_OPS, *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    # Then
    assert_one_actionable_line(proc, setting, service)


@pytest.mark.parametrize(
    ("setting", "service"),
    [("SHEEN_DATABASE_URL", "PostgreSQL"), ("SHEEN_REDIS_URL", "Redis"),
     ("SHEEN_BROKER_URL", "Broker")],
)  # fmt: skip
def test_worker_start_names_the_unreachable_service(services, setting, service):
    """Given one service on a closed port, the worker exits 1 at start with the same line."""
    # Given
    env = services.env(**{setting: closed_url(setting)})
    argv = [
        *celery("worker", "--pool", "prefork", "-c", "1", "--without-mingle", "--without-gossip")
    ]
    # When
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    # Then
    line = next((x for x in proc.stderr.splitlines() if "unreachable at" in x), "")
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert line.startswith(f"sheen: {service} unreachable at "), proc.stderr[-2000:]
    assert ":***@" in line and f"change {setting}" in line
    assert PASSWORD not in proc.stderr
    assert "Traceback" not in proc.stderr
