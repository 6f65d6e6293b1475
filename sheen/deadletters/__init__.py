"""The dead-letter queue: tasks that will not succeed by being retried, kept for an operator.

`DeadLetterRegistry` is the one object that reads and writes it; the worker,
the ops CLI, the digest job and the sidecar all go through it.
"""

from sheen.deadletters.letter import REASONS, DeadLetter
from sheen.deadletters.registry import DeadLetterRegistry

__all__ = ["REASONS", "DeadLetter", "DeadLetterRegistry"]
