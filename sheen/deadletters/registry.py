"""DeadLetterRegistry: the dead-letter queue on the broker, with cheap indexes beside it.

Storage (all in the broker's Redis, written together by one Lua script):

* ``dead_letters``: the durable kombu queue bound to the ``sheen.dead_letters``
  exchange; each element is a kombu message whose body is the letter's JSON.
  It is the broker-side record (Redis persistence keeps it across restarts).
  Only this registry consumes it: list and show read the indexes, never pop.
* ``sheen:dlq:raw``: hash id -> the same message, for `get` in O(1).
* ``sheen:dlq:by_time`` and ``sheen:dlq:by_job:{job}``: sorted sets of ids by
  dead-lettering time, for `latest`, `list(job, since)` in O(log n + limit).
* ``sheen:dlq:counts``: hash job -> count, so `count_by_job` is one HGETALL
  however many letters there are.

A letter's id is its task id, so dead-lettering the same task twice (say a soft
and then a hard time limit) keeps one letter.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import redis

from sheen.deadletters.letter import DeadLetter
from sheen.deadletters.requeue import task_envelope

QUEUE = "dead_letters"
EXCHANGE = "sheen.dead_letters"
RAW = "sheen:dlq:raw"
BY_TIME = "sheen:dlq:by_time"
BY_JOB = "sheen:dlq:by_job:"
COUNTS = "sheen:dlq:counts"
PUBLISH_BATCH = 1000
REMOVE_BATCH = 100_000

Progress = Callable[[int], None]


@cache
def _script(name: str) -> str:
    return Path(__file__).with_name(f"{name}.lua").read_text()


def envelope(letter: DeadLetter) -> str:
    """The letter as a kombu message on the Redis transport (body is plain JSON)."""
    return json.dumps(
        {
            "body": letter.to_json(),
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": {"job": letter.job, "reason": letter.reason, "dead_letter_id": letter.id},
            "properties": {
                "delivery_mode": 2,
                "delivery_info": {"exchange": EXCHANGE, "routing_key": QUEUE},
                "priority": 0,
                "body_encoding": None,
                "delivery_tag": letter.id,
            },
        },
        separators=(",", ":"),
    )


def _decode(raw: bytes | str | None) -> DeadLetter | None:
    if raw is None:
        return None
    return DeadLetter.from_dict(json.loads(json.loads(raw)["body"]))


@dataclass
class RequeueResult:
    requeued: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    jobs: dict[str, str] = field(default_factory=dict)  # letter id -> job, for the audit

    @property
    def failed(self) -> int:
        return len(self.missing)


class DeadLetterRegistry:
    """Add, read, requeue and purge dead letters. Every method is safe to call concurrently."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._add = client.register_script(_script("add"))
        self._remove = client.register_script(_script("remove"))

    # -- writing -----------------------------------------------------------------------------

    def add(self, letter: DeadLetter) -> bool:
        """Store `letter`; False when a letter with its id is already there."""
        added = self._add(
            keys=[RAW, BY_TIME, BY_JOB + letter.job, COUNTS, QUEUE],
            args=[letter.id, envelope(letter), letter.dead_lettered_at, letter.job],
        )
        return bool(added)

    def remove(self, ids: Iterable[str]) -> int:
        """Drop letters by id from the queue and the indexes; returns how many were there."""
        return self._remove_jobs(self.jobs_of(ids))

    def _remove_jobs(self, jobs_by_id: dict[str, str]) -> int:
        removed = 0
        for chunk in _chunks(list(jobs_by_id.items()), REMOVE_BATCH):
            pairs = [value for item in chunk for value in item]
            removed += int(self._remove(keys=[RAW, BY_TIME, COUNTS, QUEUE], args=[BY_JOB, *pairs]))
        return removed

    def purge(self, ids: Iterable[str]) -> int:
        """Delete letters for good; returns how many existed."""
        return self.remove(ids)

    def purge_jobs(self, jobs_by_id: dict[str, str]) -> int:
        """`purge` when the caller already read each letter's job (see `jobs_of`)."""
        return self._remove_jobs(jobs_by_id)

    def requeue(
        self, ids: Iterable[str], dry_run: bool = False, progress: Progress | None = None
    ) -> RequeueResult:
        """Publish each letter's task back to its original queue, then drop the letters.

        The task gets a new task id and keeps its idempotency key, trace id and
        send time in its headers, plus `dead_letter_id` linking back here, so a
        letter requeued twice still runs once. Publishing comes before removal:
        a crash in between leaves a letter that may be requeued again, harmlessly.
        Messages go out in pipelined batches of 1,000 (no round trip per task).
        """
        result = RequeueResult()
        for chunk in _chunks(list(ids), PUBLISH_BATCH):
            raws = self.client.hmget(RAW, chunk)
            pipe = self.client.pipeline(transaction=False)
            published: list[str] = []
            now = time.time()
            for letter_id, raw in zip(chunk, raws, strict=True):
                # The plain dict, not a DeadLetter: at 100,000 letters the dataclass costs seconds.
                letter = json.loads(json.loads(raw)["body"]) if raw is not None else None
                if letter is None or letter.get("body") is not None:
                    result.missing.append(letter_id)  # gone, or never was a task
                    continue
                result.jobs[letter_id] = letter["task"] or "unknown"
                published.append(letter_id)
                if not dry_run:
                    pipe.lpush(letter["queue"], task_envelope(letter, now))
            if not dry_run and published:
                pipe.execute()
            result.requeued.extend(published)
            if progress:
                progress(len(chunk))
        if not dry_run:
            # One removal pass for the whole call: each pass rewrites the queue list once.
            self._remove_jobs({i: result.jobs[i] for i in result.requeued})
        return result

    def jobs_of(self, ids: Iterable[str]) -> dict[str, str]:
        """Letter id -> job for the ids that exist (reads headers only, not bodies)."""
        found: dict[str, str] = {}
        for chunk in _chunks(list(ids), PUBLISH_BATCH):
            for letter_id, raw in zip(chunk, self.client.hmget(RAW, chunk), strict=True):
                if raw is not None:
                    found[letter_id] = str(json.loads(raw)["headers"]["job"])
        return found

    # -- reading -----------------------------------------------------------------------------

    def get(self, letter_id: str) -> DeadLetter | None:
        return _decode(self.client.hget(RAW, letter_id))

    def __len__(self) -> int:
        return int(self.client.hlen(RAW))

    def __contains__(self, letter_id: object) -> bool:
        return bool(self.client.hexists(RAW, str(letter_id)))

    def count_by_job(self) -> dict[str, int]:
        """Letters per job, from the counts hash (one command, whatever the size)."""
        return {k.decode(): int(v) for k, v in self.client.hgetall(COUNTS).items() if int(v) > 0}

    def latest(self, n: int = 20) -> list[DeadLetter]:
        """The `n` most recent letters, newest first."""
        return self._load(self.client.zrevrange(BY_TIME, 0, max(n, 1) - 1))

    def ids(
        self,
        job: str | None = None,
        since: float | datetime | None = None,
        limit: int | None = None,
    ) -> list[str]:
        """Letter ids newest first; `since` is a datetime or epoch seconds."""
        key = BY_JOB + job if job else BY_TIME
        if isinstance(since, datetime):
            since = since.timestamp()
        low = since if since is not None else "-inf"
        if limit is None:
            found = self.client.zrevrangebyscore(key, "+inf", low)
        else:
            found = self.client.zrevrangebyscore(key, "+inf", low, start=0, num=limit)
        return [i.decode() for i in found]

    def between(self, start: float, end: float) -> Iterator[DeadLetter]:
        """Letters dead-lettered in [start, end), oldest first, read in batches."""
        ids = [i.decode() for i in self.client.zrangebyscore(BY_TIME, start, f"({end}")]
        for chunk in _chunks(ids, PUBLISH_BATCH):
            yield from self._load(chunk)

    def oldest(self) -> DeadLetter | None:
        found = self._load(self.client.zrange(BY_TIME, 0, 0))
        return found[0] if found else None

    def queue_length(self) -> int:
        """Messages on the broker queue itself (equals `len(self)` unless someone consumed it)."""
        return int(self.client.llen(QUEUE))

    def _load(self, ids: list[Any]) -> list[DeadLetter]:
        if not ids:
            return []
        letters = (_decode(raw) for raw in self.client.hmget(RAW, ids))
        return [letter for letter in letters if letter is not None]

    # -- broker topology ---------------------------------------------------------------------

    def declare(self, broker_url: str) -> None:
        """Declare the durable exchange and queue on the broker (idempotent)."""
        from kombu import Connection, Exchange, Queue

        exchange = Exchange(EXCHANGE, type="direct", durable=True)
        with Connection(broker_url) as conn:
            Queue(QUEUE, exchange, routing_key=QUEUE, durable=True)(conn.default_channel).declare()

    # Last in the class: its name would shadow the builtin in later annotations.
    def list(
        self, job: str | None = None, since: float | datetime | None = None, limit: int | None = 100
    ) -> list[DeadLetter]:
        """Letters newest first, of one job and/or dead-lettered at or after `since`."""
        return self._load(self.ids(job, since, limit))


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
