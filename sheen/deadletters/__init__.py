"""The dead-letter queue: tasks that will not succeed by being retried, kept for an operator.

`DeadLetterStore` is the one interface that reads and writes it; the worker,
the ops CLI, the digest job and the sidecar all go through it. `open_store` picks
the implementation from the broker URL: `DeadLetterRegistry` on Redis,
`RabbitDeadLetters` (sheen.deadletters.rabbitmq) on RabbitMQ.
"""

from sheen.deadletters.letter import REASONS, DeadLetter
from sheen.deadletters.registry import DeadLetterRegistry
from sheen.deadletters.store import DeadLetterStore, open_store

__all__ = ["REASONS", "DeadLetter", "DeadLetterRegistry", "DeadLetterStore", "open_store"]
