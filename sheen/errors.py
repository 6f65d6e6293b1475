"""One exception root for the fleet; library errors are translated at the boundary."""

from __future__ import annotations


class SheenError(Exception):
    """Something in the SheenApps worker fleet went wrong."""


class ConfigError(SheenError):
    """A setting is missing or has a value the fleet cannot use (exit status 2)."""


class PayloadError(SheenError):
    """A task payload failed validation: permanent, never retried."""


class TransientError(SheenError):
    """A dependency failed in a way that a later attempt may not: retry with backoff."""


class RetriesExhausted(SheenError):
    """A transient error outlived the job's retries: the task is dead-lettered."""


class PoisonPill(SheenError):
    """A message was delivered too often without finishing (it kills its worker): dead-lettered."""


class DeadLetterNotFound(SheenError):
    """No dead letter has that id (already requeued or purged)."""
