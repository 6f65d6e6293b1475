"""Logs never carry personal data, and every line of a task carries job, task id and trace id."""

from __future__ import annotations

import ast
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import structlog
from structlog.testing import capture_logs

from sheen.analytics.events import EventRefused, event
from sheen.logging import PII_KEYS, drop_personal_data
from workers.middleware.log_context import LogContext

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("sheen", "workers", "tasks", "schemas", "celeryconfig.py", "beat_schedule.py")
LOG_METHODS = {
    "debug",
    "info",
    "warning",
    "warn",
    "error",
    "exception",
    "critical",
    "msg",
    "bind",
    "new",
    # migration analytics events (sheen.analytics.emit): covered by the same scan
    "emit",
    "step_completed",
}
PROCESSORS = [structlog.contextvars.merge_contextvars, drop_personal_data]


def pii_log_calls(source: str, filename: str) -> list[str]:
    """Log calls (`log.info(...)`, `.bind(...)`) that pass a personal-data keyword."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr not in LOG_METHODS:
            continue
        for keyword in node.keywords:
            if keyword.arg and keyword.arg.lower() in PII_KEYS:
                found.append(f"{filename}:{node.lineno}: {node.func.attr}({keyword.arg}=...)")
    return found


def source_files() -> list[Path]:
    files: list[Path] = []
    for entry in SOURCES:
        path = ROOT / entry
        files.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return files


def test_no_code_logs_a_personal_data_field():
    """Static scan: no log call in the fleet's code passes email=, name=, ip= (or kin)."""
    problems = []
    for path in source_files():
        problems += pii_log_calls(path.read_text(), str(path.relative_to(ROOT)))
    assert not problems, "personal data in log calls:\n" + "\n".join(problems)


def test_static_scan_catches_a_pii_keyword():
    """The scanner flags the calls it is meant to catch (so the check above can fail)."""
    sample = "log.info('user_seen', email=e)\nlogger.bind(ip_address=x)\nlog.info('ok', job=j)\n"
    assert pii_log_calls(sample, "sample.py") == [
        "sample.py:1: info(email=...)",
        "sample.py:2: bind(ip_address=...)",
    ]


def test_processor_drops_pii_keys_and_masks_values():
    """Emails, names and IPs are redacted by key and masked inside free text."""
    log = structlog.get_logger("test")
    with capture_logs(processors=PROCESSORS) as logs:
        log.info("signup", email="ana@example.com", name="Ana", ip="203.0.113.9",
                 detail="mail ana@example.com from 203.0.113.9")  # fmt: skip
    line = logs[0]
    assert line["email"] == line["name"] == line["ip"] == "[redacted]"
    assert line["detail"] == "mail [email] from [ip]"
    assert "ana@example.com" not in repr(logs)


@dataclass
class FakeCtx:
    job: str = "fleet.ping"
    task_id: str = "task-123"
    trace_id: str = "trace-abc"
    status: str = "running"


def test_every_line_of_a_task_carries_job_task_and_trace_ids():
    """Lines logged inside a task (and the lifecycle lines) carry job, task_id and trace_id."""
    body_log = structlog.get_logger("tasks.sample")
    with capture_logs(processors=PROCESSORS) as logs:
        LogContext().around(FakeCtx(), lambda: body_log.info("doing_work", rows=3))  # type: ignore[arg-type]
    assert [line["event"] for line in logs] == ["job_started", "doing_work", "job_finished"]
    for line in logs:
        assert (line["job"], line["task_id"], line["trace_id"]) == (
            "fleet.ping",
            "task-123",
            "trace-abc",
        )


PII_SAMPLES = {"email": "ana@example.com", "ip": "203.0.113.9", "ipv6": "2001:db8::1",
               "name": "Ana Lima"}  # fmt: skip


def _event_fields(**more):
    fields = {
        "event_type": "failed", "migration_id": uuid.uuid4(), "user_id": uuid.uuid4(),
        "task_id": "t-1", "job": "migration.run", "attempt": 1, "error_class": "ValueError",
        "service": "sheen-worker", "environment": "ci", "region": "local",
    }  # fmt: skip
    fields.update(more)
    return fields


def test_analytics_events_refuse_emails_names_and_ips():
    """Every free field of an analytics event refuses an email, a name or an IP address."""
    # Given each personal-data sample in each free field (metadata by value and by key)
    cases = [
        {field: value}
        for value in PII_SAMPLES.values()
        for field in ("step", "error_class", "request_id", "task_id", "job", "trace_id")
    ]
    cases += [{"metadata": {"note": value}} for value in PII_SAMPLES.values()]
    cases += [{"metadata": {key: "x"}} for key in ("email", "name", "ip_address")]
    cases += [{"metadata": {"nested": {"email": "ana@example.com"}}}]
    # When each is validated; Then each is refused, and the message never repeats the value
    for case in cases:
        with pytest.raises(EventRefused) as refused:
            event(**_event_fields(**case))
        for value in PII_SAMPLES.values():
            assert value not in str(refused.value)
    # ... while a clean event passes
    assert event(**_event_fields(metadata={"attempts": 2, "reason": "permanent"})).attempt == 1
