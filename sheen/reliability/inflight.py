"""What is in flight on a Redis broker: waiting in a queue, or reserved and not acknowledged.

kombu keeps every message a worker reserved (late ack) or holds for its countdown
(retries, ETAs) in the `unacked` hash until it is acknowledged; a dead worker's
messages stay there until the visibility timeout restores them. This is the one
place that reads those keys, so operators (`sheen-ops jobs inflight`) and tests
ask "what is still owed?" without knowing kombu's layout.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import redis

UNACKED = "unacked"  # kombu's defaults (broker_transport_options unacked_key / _index_key)
UNACKED_INDEX = "unacked_index"


@dataclass(frozen=True)
class InFlightMessage:
    task: str
    task_id: str
    retries: int
    queue: str
    reserved_seconds_ago: float
    eta: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class InFlightSummary:
    waiting: dict[str, int]
    unacked: int

    @property
    def total(self) -> int:
        return self.unacked + sum(self.waiting.values())


class InFlight:
    """Messages of the fleet's queues not yet acknowledged, on one Redis broker."""

    def __init__(self, client: redis.Redis, queues: Iterable[str]) -> None:
        self.client = client
        self.queues = tuple(queues)

    def summary(self) -> InFlightSummary:
        pipe = self.client.pipeline(transaction=False)
        for queue in self.queues:
            pipe.llen(queue)
        pipe.hlen(UNACKED)
        *lengths, unacked = pipe.execute()
        return InFlightSummary(dict(zip(self.queues, map(int, lengths), strict=True)), int(unacked))

    def unacked(self, limit: int = 1000) -> list[InFlightMessage]:
        """Up to `limit` reserved or delayed messages, oldest reservation first."""
        now = time.time()
        entries = self.client.zrange(UNACKED_INDEX, 0, limit - 1, withscores=True)
        tags = [tag for tag, _ in entries]
        raws = self.client.hmget(UNACKED, tags) if tags else []
        found = []
        for (_, score), raw in zip(entries, raws, strict=True):
            if raw is None:
                continue  # acknowledged between the two reads
            found.append(_describe(raw, now - float(score)))
        return found


def _describe(raw: bytes, age: float) -> InFlightMessage:
    message, _exchange, routing_key = json.loads(raw)
    headers = message.get("headers") or {}
    return InFlightMessage(
        task=str(headers.get("task") or "unknown"),
        task_id=str(headers.get("id") or ""),
        retries=int(headers.get("retries") or 0),
        queue=str(routing_key or ""),
        reserved_seconds_ago=round(age, 3),
        eta=headers.get("eta"),
    )
