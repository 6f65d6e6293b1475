"""Idempotency keys in Redis: done keys per job, in-flight leases, delivery counts.

Like rq's registries, one small object owns one kind of state. A delivery asks
`claim()` once (one Lua round trip) and gets back what to do:

* ``run``: nobody holds the key and it is not done; this delivery now holds the
  lease (its value is the task id, its TTL exceeds the hard time limit, so a
  worker killed mid-run leaves a lease that expires). A redelivery of the same
  message (same task id) takes its own lease over at once.
* ``done``: the key completed before; the delivery is recorded as skipped.
* ``busy``: another message holds the key right now; the delivery is recorded as
  skipped (the holder's message is still unacknowledged, so if the holder dies
  its message is redelivered: nothing is lost by not running twice).
* ``poison``: this message was delivered more than `max_deliveries` times without
  finishing: it keeps killing its worker, so it is dead-lettered instead of run.

Done keys live in one sorted set per job, trimmed atomically to the newest
`KEEP_DONE` (100) when a key completes: no unbounded growth.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

import redis

KEEP_DONE = 100
PREFIX = "sheen:idem"
DELIVERY_TTL_SECONDS = 7 * 86400

ClaimState = Literal["run", "done", "busy", "poison"]


@cache
def _script(name: str) -> str:
    return Path(__file__).with_name(f"{name}.lua").read_text()


def derive_key(task_name: str, kwargs: dict[str, Any]) -> str:
    """A stable key for a task and its arguments: sha256 of canonical JSON."""
    canonical = json.dumps(kwargs, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{task_name}\n{canonical}".encode()).hexdigest()


@dataclass(frozen=True)
class Claim:
    state: ClaimState
    deliveries: int


class IdempotencyRegistry:
    """Done keys, leases and delivery counters of every job, in the state Redis."""

    def __init__(self, client: redis.Redis, keep: int = KEEP_DONE) -> None:
        self.client = client
        self.keep = keep
        self._claim = client.register_script(_script("claim"))
        self._complete = client.register_script(_script("complete"))

    @staticmethod
    def done_key(job: str) -> str:
        return f"{PREFIX}:done:{job}"

    @staticmethod
    def lease_key(job: str, key: str) -> str:
        return f"{PREFIX}:lease:{job}:{key}"

    @staticmethod
    def deliveries_key(task_id: str, retries: int) -> str:
        return f"{PREFIX}:deliveries:{task_id}:{retries}"

    def claim(
        self,
        job: str,
        key: str | None,
        task_id: str,
        retries: int,
        lease_seconds: float,
        max_deliveries: int,
        requeued_from: str | None = None,
    ) -> Claim:
        """Count this delivery and, when `key` is given, check and lease it: one round trip."""
        keys = [
            self.done_key(job),
            self.lease_key(job, key or "-"),
            self.deliveries_key(task_id, retries),
        ]
        args = [
            key or "",
            task_id,
            max(int(lease_seconds * 1000), 1000),
            max_deliveries,
            DELIVERY_TTL_SECONDS,
            "1" if key else "0",
            requeued_from or "",
        ]
        state, deliveries = self._claim(keys=keys, args=args)
        text = state.decode() if isinstance(state, bytes) else str(state)
        return Claim(state=text, deliveries=int(deliveries))  # type: ignore[arg-type]

    def complete(self, job: str, key: str, task_id: str) -> None:
        """Mark `key` done (trimming the job's set to the newest keys) and drop the lease."""
        self._finish(job, key, task_id, done=True)

    def release(self, job: str, key: str, task_id: str) -> None:
        """Drop the lease without marking the key done: the run failed, a retry may run it."""
        self._finish(job, key, task_id, done=False)

    def _finish(self, job: str, key: str, task_id: str, done: bool) -> None:
        self._complete(
            keys=[self.done_key(job), self.lease_key(job, key)],
            args=[key, task_id, time.time(), self.keep, "1" if done else "0"],
        )

    def is_done(self, job: str, key: str) -> bool:
        return self.client.zscore(self.done_key(job), key) is not None

    def done_keys(self, job: str) -> list[str]:
        """The job's done keys, oldest first."""
        return [k.decode() for k in self.client.zrange(self.done_key(job), 0, -1)]

    def holder(self, job: str, key: str) -> str | None:
        value = self.client.get(self.lease_key(job, key))
        return value.decode() if value else None
