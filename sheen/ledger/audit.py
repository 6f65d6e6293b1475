"""The audit: tasks sent but never finished, past their grace, and not kept as dead letters."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

import celeryconfig
from sheen.deadletters.store import open_store
from sheen.ledger.ledger import Missing, grace_seconds, ledger_for
from sheen.settings import Settings


@dataclass
class AuditReport:
    missing: list[Missing]
    open_tasks: int
    grace_seconds: float
    since_seconds: float | None

    def to_dict(self) -> dict[str, object]:
        return {
            "missing": [
                {"task_id": m.task_id, "task": m.task, "due_at": m.due_at} for m in self.missing
            ],
            "missing_count": len(self.missing),
            "open_tasks": self.open_tasks,
            "grace_seconds": self.grace_seconds,
            "since_seconds": self.since_seconds,
        }


def fleet_grace(settings: Settings) -> float:
    return grace_seconds(settings, celeryconfig.longest_hard_time_limit(settings.time_limit_scale))


def run_audit(settings: Settings, since_seconds: float | None = None) -> AuditReport:
    """Missing tasks that became overdue within the last `since_seconds` (all when None)."""
    ledger = ledger_for(settings)
    grace = fleet_grace(settings)
    store = open_store(settings.broker_url, delivery_limit=settings.broker_delivery_limit)

    def in_dead_letters(ids: Iterable[str]) -> set[str]:
        return set(store.jobs_of(ids))

    since = time.time() - since_seconds if since_seconds is not None else None
    missing = ledger.missing(grace, in_dead_letters, since=None if since is None else since + grace)
    return AuditReport(missing, ledger.open_count(), grace, since_seconds)


def missing_count(settings: Settings) -> int:
    """For the gauge: every missing task the ledger still holds (within its retention)."""
    return len(run_audit(settings).missing)
