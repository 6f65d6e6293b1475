"""The one interface every dead-letter reader and writer uses, and the factory picking its backend.

Two implementations, chosen from the broker URL: `DeadLetterRegistry` (Redis: the
queue plus indexes beside it, written by Lua) and `RabbitDeadLetters` (RabbitMQ: a
quorum queue fed by the fleet and by the broker's own dead-lettering).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Protocol

from sheen import broker
from sheen.deadletters.letter import DeadLetter
from sheen.deadletters.registry import DeadLetterRegistry, RequeueResult

Progress = Callable[[int], None]


class DeadLetterStore(Protocol):
    """What the worker, `sheen-ops dlq`, the digest and the sidecar need of a dead-letter queue."""

    def add(self, letter: DeadLetter) -> bool: ...

    def get(self, letter_id: str) -> DeadLetter | None: ...

    def __len__(self) -> int: ...

    def __contains__(self, letter_id: object) -> bool: ...

    def count_by_job(self) -> dict[str, int]: ...

    def latest(self, n: int = 20) -> list[DeadLetter]: ...

    def ids(
        self,
        job: str | None = None,
        since: float | datetime | None = None,
        limit: int | None = None,
    ) -> list[str]: ...

    def list(
        self, job: str | None = None, since: float | datetime | None = None, limit: int | None = 100
    ) -> list[DeadLetter]: ...

    def between(self, start: float, end: float) -> Iterator[DeadLetter]: ...

    def oldest(self) -> DeadLetter | None: ...

    def queue_length(self) -> int: ...

    def jobs_of(self, ids: Iterable[str]) -> dict[str, str]: ...

    def requeue(
        self, ids: Iterable[str], dry_run: bool = False, progress: Progress | None = None
    ) -> RequeueResult: ...

    def purge(self, ids: Iterable[str]) -> int: ...

    def purge_jobs(self, jobs_by_id: dict[str, str]) -> int: ...

    def declare(self, broker_url: str) -> None: ...


def open_store(
    broker_url: str, socket_timeout: float = 10.0, delivery_limit: int = 5
) -> DeadLetterStore:
    """The dead-letter store on this broker (Redis or RabbitMQ, from the URL's scheme).

    `delivery_limit` is the task queues' `x-delivery-limit`, used when a requeue has to
    declare a queue that does not exist yet (RabbitMQ only).
    """
    if broker.kind(broker_url) == "rabbitmq":
        from sheen.deadletters.rabbitmq import RabbitDeadLetters

        return RabbitDeadLetters(broker_url, timeout=socket_timeout, delivery_limit=delivery_limit)
    import redis

    from sheen.deploy.tls import redis_tls_kwargs

    client = redis.Redis.from_url(
        broker_url,
        socket_timeout=socket_timeout,
        socket_connect_timeout=min(socket_timeout, 5),
        **redis_tls_kwargs(broker_url),
    )
    return DeadLetterRegistry(client)
