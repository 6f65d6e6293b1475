"""Idempotency keys in Redis: done keys per job, in-flight leases, delivery counts.

Like rq's registries, one small object owns one kind of state. A delivery asks
`claim()` once (one Lua round trip) and gets back what to do:

* ``run``: nobody holds the key and it is not done; this delivery now holds the
  lease (its value is the task id and a per-delivery token naming the process,
  its TTL exceeds the hard time limit, so a worker killed mid-run leaves a lease
  that expires).
* ``held``: another delivery of the *same* task id holds the lease: a live
  duplicate, or a copy whose worker died. It never runs beside it: it is deferred
  until the lease has expired (a dead holder's lease is dropped at once by its
  worker's main process when the pool child dies).
* ``done``: the key completed before; the delivery is recorded as skipped.
* ``busy``: another message holds the key right now; the delivery is recorded as
  skipped (the holder's message is still unacknowledged, so if the holder dies
  its message is redelivered: nothing is lost by not running twice).
* ``poison``: this message was delivered more than `max_deliveries` times without
  finishing: it keeps killing its worker, so it is dead-lettered instead of run.

Done keys live in one sorted set per job (score: completion time) and stay done
for `retention` seconds, which the worker's start-up check makes longer than any
delivery of the key can still arrive (visibility timeout + every retry's
backoff). Memory is bounded by time, not by count; the newest `KEEP_DONE` (100)
are what operators are shown. Tasks that commit through `ctx.transaction()` also
have the done-mark in PostgreSQL (sheen.reliability.done_marks): the truth when
Redis has forgotten.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
import uuid
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

import redis

KEEP_DONE = 100
PREFIX = "sheen:idem"
DELIVERY_TTL_SECONDS = 7 * 86400
DEFAULT_RETENTION_SECONDS = 7 * 86400

ClaimState = Literal["run", "done", "busy", "held", "poison"]


@cache
def _script(name: str) -> str:
    return Path(__file__).with_name(f"{name}.lua").read_text()


def derive_key(task_name: str, kwargs: dict[str, Any]) -> str:
    """A stable key for a task and its arguments: sha256 of canonical JSON."""
    canonical = json.dumps(kwargs, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{task_name}\n{canonical}".encode()).hexdigest()


def process_tag(pid: int | None = None) -> str:
    """`<host>:<pid>:`: the start of every lease token this process takes."""
    return f"{socket.gethostname()}:{pid or os.getpid()}:"


def new_token() -> str:
    """A token for one delivery: names its process, unique per delivery."""
    return process_tag() + uuid.uuid4().hex[:12]


@dataclass(frozen=True)
class Claim:
    state: ClaimState
    deliveries: int
    holder: str = ""  # the lease's value when this delivery holds it: "<task id> <attempt> <token>"
    lease_left_seconds: float = 0.0


class IdempotencyRegistry:
    """Done keys, leases and delivery counters of every job, in the state Redis."""

    def __init__(
        self,
        client: redis.Redis,
        keep: int = KEEP_DONE,
        retention_seconds: float = DEFAULT_RETENTION_SECONDS,
    ) -> None:
        self.client = client
        self.keep = keep
        self.retention_seconds = retention_seconds
        self._claim = client.register_script(_script("claim"))
        self._complete = client.register_script(_script("complete"))
        self._release_dead = client.register_script(_script("release_dead"))

    @staticmethod
    def done_key(job: str) -> str:
        return f"{PREFIX}:done:{job}"

    @staticmethod
    def lease_key(job: str, key: str) -> str:
        return f"{PREFIX}:lease:{job}:{key}"

    @staticmethod
    def deliveries_key(task_id: str, retries: int) -> str:
        return f"{PREFIX}:deliveries:{task_id}:{retries}"

    @staticmethod
    def holding_key(task_id: str) -> str:
        return f"{PREFIX}:holding:{task_id}"

    def claim(
        self,
        job: str,
        key: str | None,
        task_id: str,
        retries: int,
        lease_seconds: float,
        max_deliveries: int,
        requeued_from: str | None = None,
        attempt: int | None = None,
    ) -> Claim:
        """Count this delivery and, when `key` is given, check and lease it: one round trip."""
        token = new_token() if key else ""
        attempt = retries if attempt is None else attempt
        keys = [
            self.done_key(job),
            self.lease_key(job, key or "-"),
            self.deliveries_key(task_id, retries),
            self.holding_key(task_id),
        ]
        args = [
            key or "",
            task_id,
            max(int(lease_seconds * 1000), 1000),
            max_deliveries,
            DELIVERY_TTL_SECONDS,
            "1" if key else "0",
            requeued_from or "",
            token,
            time.time() - self.retention_seconds,
            attempt,
        ]
        state, deliveries, left_ms = self._claim(keys=keys, args=args)
        text = state.decode() if isinstance(state, bytes) else str(state)
        return Claim(
            state=text,  # type: ignore[arg-type]
            deliveries=int(deliveries),
            holder=f"{task_id} {attempt} {token}" if key else "",
            lease_left_seconds=max(int(left_ms), 0) / 1000,
        )

    def complete(self, job: str, key: str, task_id: str, holder: str) -> None:
        """Mark `key` done (dropping done keys past the retention) and drop this lease."""
        self._finish(job, key, holder, task_id, done=True)

    def release(self, job: str, key: str, task_id: str, holder: str) -> None:
        """Drop the lease without marking the key done: the run failed, a retry may run it."""
        self._finish(job, key, holder, task_id, done=False)

    def mark_done(self, job: str, key: str) -> None:
        """Record `key` done without holding its lease (PostgreSQL said it is done)."""
        self._finish(job, key, "", "", done=True)

    def release_dead(self, task_id: str, pid: int) -> bool:
        """Drop the lease held for `task_id` by process `pid` of this host (it died)."""
        return bool(
            self._release_dead(keys=[self.holding_key(task_id)], args=[task_id, process_tag(pid)])
        )

    def _finish(self, job: str, key: str, holder: str, task_id: str, done: bool) -> None:
        now = time.time()
        self._complete(
            keys=[self.done_key(job), self.lease_key(job, key), self.holding_key(task_id)],
            args=[key, holder, now, now - self.retention_seconds, "1" if done else "0"],
        )

    def is_done(self, job: str, key: str) -> bool:
        score = self.client.zscore(self.done_key(job), key)
        return score is not None and score >= time.time() - self.retention_seconds

    def done_keys(self, job: str) -> list[str]:
        """The job's newest `keep` done keys, oldest first (what operators are shown)."""
        newest = self.client.zrevrange(self.done_key(job), 0, self.keep - 1)
        return [k.decode() for k in reversed(newest)]

    def holder(self, job: str, key: str) -> str | None:
        """The task id holding the key's lease, if any."""
        value = self.client.get(self.lease_key(job, key))
        return value.decode().split(" ", 1)[0] if value else None
