"""Which errors are worth another attempt, and how long to wait before it.

Transient: the database or Redis connection failed or timed out, an external
HTTP call answered 5xx (raised as `TransientError` by the caller), or anything
already a `TransientError`. Everything else is permanent: retrying a bad payload
or a bug only repeats it, so it goes straight to the dead-letter queue.

Backoff is exponential with full jitter (AWS architecture blog, "Exponential
Backoff And Jitter"): a random wait in [0, min(cap, base * 2**attempt)], so a
burst of failures does not come back as a burst of retries.
"""

from __future__ import annotations

import random

import redis.exceptions
import sqlalchemy.exc

from sheen.errors import TransientError

_TRANSIENT_LIBRARY_ERRORS: tuple[type[BaseException], ...] = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    ConnectionError,
    TimeoutError,
)


def as_transient(exc: BaseException) -> TransientError | None:
    """The fleet's TransientError for `exc`, or None when `exc` is permanent."""
    if isinstance(exc, TransientError):
        return exc
    if isinstance(exc, _TRANSIENT_LIBRARY_ERRORS):
        try:
            raise TransientError(f"{type(exc).__name__}: {exc}".splitlines()[0]) from exc
        except TransientError as translated:
            return translated
    return None


def backoff_seconds(
    attempt: int, base: float, cap: float, rng: random.Random | None = None
) -> float:
    """Full-jitter exponential backoff for retry number `attempt` (0 for the first retry)."""
    ceiling = min(cap, base * (2 ** min(attempt, 32)))
    return (rng or random).uniform(0, ceiling)
