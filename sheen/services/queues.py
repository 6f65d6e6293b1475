"""Queue depth straight from the broker: Redis LLEN of each monitored queue.

kombu's Redis transport keeps one list per priority step (`jobs`, `jobs\x06\x163`,
...); a queue's depth is the sum of them. Reserved-but-unacked messages are not
waiting, so they are not counted.
"""

from __future__ import annotations

from collections.abc import Iterable

import redis

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
