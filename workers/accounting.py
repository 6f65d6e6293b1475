"""Lost-task accounting wired to Celery's signals: sent at publish, done at every terminal outcome.

Sent: `before_task_publish` in whatever process publishes (beat, the CLI, the sidecar, a
task retrying itself). Done: `task_postrun` in the pool child when the run ended for good
(SUCCESS, FAILURE: the pipeline dead-lettered it; skipped runs are successes), and
`workers.dead_lettering.dead_letter` for letters written outside a run (hard timeouts,
unknown or undecodable messages, poison pills). `task_revoked` (an expired or revoked
task) is an end too. A ledger failure is logged and never fails a publish or a task.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog
from celery import signals

from sheen.ledger import ledger_for
from sheen.settings import load_settings

log = structlog.get_logger("sheen.ledger")
TERMINAL_STATES = frozenset({"SUCCESS", "FAILURE", "IGNORED"})


def _due(headers: dict[str, Any]) -> float | None:
    eta = headers.get("eta")
    if not eta:
        return None
    try:
        return datetime.fromisoformat(str(eta)).timestamp()
    except ValueError:
        return None


def record_done(task_id: str | None, task: str | None) -> None:
    if not task_id or not task:
        return
    try:
        ledger_for(load_settings()).done(task_id, task)
    except Exception as exc:
        log.warning("ledger_done_failed", error_type=type(exc).__name__)


@signals.before_task_publish.connect
def _sent(headers: dict[str, Any] | None = None, **_: Any) -> None:
    if not headers or not headers.get("id") or not headers.get("task"):
        return
    try:
        ledger_for(load_settings()).sent(str(headers["id"]), str(headers["task"]), _due(headers))
    except Exception as exc:
        log.warning("ledger_sent_failed", error_type=type(exc).__name__)


@signals.task_postrun.connect
def _finished(
    task_id: str | None = None, task: Any = None, state: str | None = None, **_: Any
) -> None:
    if state in TERMINAL_STATES:
        record_done(task_id, getattr(task, "name", None))


@signals.task_revoked.connect
def _revoked(request: Any = None, **_: Any) -> None:
    if request is not None:
        record_done(getattr(request, "id", None), getattr(request, "name", None))
