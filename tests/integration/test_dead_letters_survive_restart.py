"""Dead letters live on the broker: with Redis persistence on they survive a broker restart."""

from __future__ import annotations

import redis

from sheen.deadletters import DeadLetter, DeadLetterRegistry
from sheen.embedded import EmbeddedRedis, free_port


def test_dead_letters_survive_a_broker_restart(tmp_path):
    """Letters added before a restart of a persistent Redis are listed and shown after it."""
    # Given a broker Redis of its own (this test restarts it) with append-only persistence
    broker = EmbeddedRedis(tmp_path / "broker", free_port(), persist=True).start()
    try:
        registry = DeadLetterRegistry(redis.Redis.from_url(f"{broker.url}/0"))
        letters = [
            DeadLetter(
                task="jobs.daily_reset",
                reason="timeout",
                task_id=f"t-{n}",
                exc_type="SoftTimeLimitExceeded",
            )
            for n in range(3)
        ]
        for letter in letters:
            registry.add(letter)
        # When the broker stops and starts again on the same data
        broker.stop()
        broker = EmbeddedRedis(tmp_path / "broker", broker.port, persist=True).start()
        registry = DeadLetterRegistry(redis.Redis.from_url(f"{broker.url}/0"))
        # Then every letter is still there, readable without being consumed
        assert len(registry) == 3
        assert registry.count_by_job() == {"jobs.daily_reset": 3}
        letter = registry.get(letters[1].id)
        assert letter is not None and letter.reason == "timeout" and letter.task_id == "t-1"
        assert len(registry) == 3
    finally:
        broker.stop()
