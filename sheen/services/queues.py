"""Queue depth straight from the broker: Redis LLEN, or RabbitMQ's ready-message count.

kombu's Redis transport keeps one list per priority step (`jobs`, `jobs\x06\x163`,
...); a queue's depth is the sum of them. On RabbitMQ a passive declare returns the
queue's ready messages. Either way reserved-but-unacked messages are not waiting, so
they are not counted.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

import redis
from kombu import Connection

PRIORITY_SEPARATOR = "\x06\x16"
PRIORITY_STEPS = (0, 3, 6, 9)


def _lists(queue: str) -> list[str]:
    return [queue if step == 0 else f"{queue}{PRIORITY_SEPARATOR}{step}" for step in PRIORITY_STEPS]


def queue_depths(client: redis.Redis, queues: Iterable[str]) -> dict[str, int]:
    """Messages waiting per queue, read in one round trip."""
    names = list(queues)
    pipe = client.pipeline(transaction=False)
    for queue in names:
        for key in _lists(queue):
            pipe.llen(key)
    counts = pipe.execute()
    steps = len(PRIORITY_STEPS)
    return {queue: int(sum(counts[i * steps : (i + 1) * steps])) for i, queue in enumerate(names)}


class AmqpDepths:
    """Ready messages per queue on RabbitMQ, one passive declare each, on a kept connection.

    A queue that does not exist (yet) has depth 0; a broken connection is reopened on
    the next sample. Callable from several threads (the scrape server's).
    """

    def __init__(self, url: str, queues: Iterable[str], timeout: float) -> None:
        self.url = url
        self.queues = list(queues)
        self.timeout = timeout
        self._conn: Connection | None = None
        self._lock = threading.Lock()

    def __call__(self) -> dict[str, int]:
        with self._lock:
            try:
                return self._sample()
            except Exception:
                if self._conn is not None:
                    self._conn.release()
                self._conn = None
                raise

    def _sample(self) -> dict[str, int]:
        if self._conn is None:
            self._conn = Connection(self.url, connect_timeout=self.timeout, heartbeat=0)
        depths: dict[str, int] = {}
        for queue in self.queues:
            channel = self._conn.channel()
            try:
                depths[queue] = int(channel.queue_declare(queue=queue, passive=True).message_count)
            except self._conn.channel_errors:
                depths[queue] = 0  # not declared yet: nothing waits there
            finally:
                if channel.is_open:
                    channel.close()
        return depths
