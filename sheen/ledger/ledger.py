"""TaskLedger: tasks sent and not yet finished, in one Redis sorted set with a bounded size.

* ``sheen:ledger:open``: sorted set, member ``"{task_id} {task name}"``, score the time
  the task became due (publish time, or its ETA/countdown). `sent` adds (a retry of the
  same id moves its score), `done` removes. Both are one round trip.
* Bounded: each `sent` also drops entries older than the retention and the oldest past
  `max_entries` in the same pipeline, so a fleet whose workers never report cannot grow
  the set without limit; the audit sees back as far as the retention.

A task counts as missing when it is still open `grace_seconds` after it became due:
longer than any run (hard time limit) and any redelivery (Redis visibility timeout),
plus a margin. Tasks sitting in the dead-letter queue are not missing (the broker kept
them), so `missing` leaves them out.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import redis

from sheen.settings import Settings

OPEN = "sheen:ledger:open"
SCAN_LIMIT = 10_000


@dataclass(frozen=True)
class Missing:
    task_id: str
    task: str
    due_at: float


def grace_seconds(settings: Settings, longest_hard_limit: float) -> float:
    """How long after it became due an unfinished task counts as missing."""
    redelivery = max(settings.visibility_timeout_seconds, longest_hard_limit)
    return float(redelivery + settings.audit_margin_seconds)


class TaskLedger:
    def __init__(
        self, client: redis.Redis, retention_seconds: int = 86400, max_entries: int = 1_000_000
    ) -> None:
        self.client = client
        self.retention_seconds = retention_seconds
        self.max_entries = max_entries

    def sent(self, task_id: str, task: str, due_at: float | None = None) -> None:
        """Count one publish (a retry of the same id restarts its clock); trims the set."""
        now = time.time()
        pipe = self.client.pipeline(transaction=False)
        pipe.zadd(OPEN, {f"{task_id} {task}": due_at if due_at is not None else now})
        pipe.zremrangebyscore(OPEN, "-inf", now - self.retention_seconds)
        pipe.zremrangebyrank(OPEN, 0, -(self.max_entries + 1))
        pipe.execute()

    def done(self, task_id: str, task: str) -> None:
        """Count one terminal outcome (success, skipped, dead-lettered)."""
        self.client.zrem(OPEN, f"{task_id} {task}")

    def open_count(self) -> int:
        return int(self.client.zcard(OPEN))

    def overdue(
        self, grace: float, since: float | None = None, now: float | None = None
    ) -> list[Missing]:
        """Open tasks due before `now - grace` (and, with `since`, due after `since - grace`)."""
        now = now if now is not None else time.time()
        low: float | str = since - grace if since is not None else "-inf"
        found = self.client.zrangebyscore(
            OPEN, low, now - grace, start=0, num=SCAN_LIMIT, withscores=True
        )
        result = []
        for member, score in found:
            task_id, _, task = member.decode().partition(" ")
            result.append(Missing(task_id, task, float(score)))
        return result

    def missing(
        self,
        grace: float,
        in_dead_letters: Callable[[Iterable[str]], set[str]],
        since: float | None = None,
    ) -> list[Missing]:
        """Overdue tasks that are not in the dead-letter queue either, oldest first."""
        overdue = self.overdue(grace, since)
        if not overdue:
            return []
        kept = in_dead_letters([m.task_id for m in overdue])
        return [m for m in overdue if m.task_id not in kept]


_ledgers: dict[str, TaskLedger] = {}


def ledger_for(settings: Settings) -> TaskLedger:
    """This process's ledger on the state Redis."""
    ledger = _ledgers.get(settings.redis_url)
    if ledger is None:
        from sheen.reliability.clients import state_redis

        ledger = _ledgers[settings.redis_url] = TaskLedger(
            state_redis(settings), settings.ledger_retention_seconds, settings.ledger_max_entries
        )
    return ledger
