"""The hourly dead-letter digest: letters grouped by fingerprint, one webhook message.

A fingerprint is (job, exception type, normalised message): numbers, UUIDs and
hex ids are blanked so "row 17 locked" and "row 42 locked" are one group. One
message per hour, never one per error; nothing at all when the hour had none.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sheen.deadletters.letter import DeadLetter
from sheen.errors import PayloadError, TransientError
from sheen.metrics import external_request

_UUID = re.compile(
    r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
)
_HEX = re.compile(
    r"\b0x[0-9a-fA-F]+\b|\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{6,}\b"
)
_DIGITS = re.compile(r"\d+")
MAX_GROUPS_SHOWN = 20


def normalise(message: str | None) -> str:
    """The message with its variable parts (uuids, hex ids, numbers) replaced by placeholders."""
    text = (message or "").splitlines()[0] if message else ""
    text = _UUID.sub("<uuid>", text)
    text = _HEX.sub("<hex>", text)
    return _DIGITS.sub("<n>", text)[:200]


def fingerprint(letter: DeadLetter) -> tuple[str, str, str]:
    return (letter.job, letter.exc_type or letter.reason, normalise(letter.exc_message))


@dataclass
class Group:
    job: str
    exc_type: str
    message: str
    reason: str
    count: int = 0
    first_seen: float = float("inf")
    last_seen: float = 0.0


@dataclass
class Digest:
    window_start: float
    window_end: float
    groups: list[Group] = field(default_factory=list)
    oldest_age_seconds: float | None = None

    @property
    def total(self) -> int:
        return sum(g.count for g in self.groups)


def build_digest(
    letters: Iterable[DeadLetter],
    window_start: float,
    window_end: float,
    now: float,
    oldest: DeadLetter | None,
) -> Digest:
    """Group the window's letters; the oldest letter still queued gives the backlog's age."""
    groups: dict[tuple[str, str, str], Group] = {}
    for letter in letters:
        key = fingerprint(letter)
        group = groups.setdefault(key, Group(*key, reason=letter.reason))
        group.count += 1
        group.first_seen = min(group.first_seen, letter.dead_lettered_at)
        group.last_seen = max(group.last_seen, letter.dead_lettered_at)
    ordered = sorted(groups.values(), key=lambda g: (-g.count, g.job, g.exc_type))
    age = now - oldest.dead_lettered_at if oldest else None
    return Digest(window_start, window_end, ordered, age)


def _hhmm(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")


def slack_message(digest: Digest) -> dict[str, object]:
    """A Slack-compatible incoming-webhook payload (`text`, plus the groups as data)."""
    lines = [
        f"*{digest.total} new dead letters* in {len(digest.groups)} groups, "
        f"{_hhmm(digest.window_start)}-{_hhmm(digest.window_end)[11:]} UTC"
    ]
    for g in digest.groups[:MAX_GROUPS_SHOWN]:
        lines.append(
            f"- {g.count} x `{g.job}` {g.exc_type} ({g.reason}): {g.message or '-'} "
            f"(first {_hhmm(g.first_seen)[11:]}, last {_hhmm(g.last_seen)[11:]})"
        )
    if len(digest.groups) > MAX_GROUPS_SHOWN:
        lines.append(f"... and {len(digest.groups) - MAX_GROUPS_SHOWN} more groups")
    if digest.oldest_age_seconds is not None:
        lines.append(f"Oldest letter waiting: {digest.oldest_age_seconds / 3600:.1f} h")
    lines.append("Inspect with `sheen-ops dlq list --since 1h`.")
    return {
        "text": "\n".join(lines),
        "sheen_digest": {
            "window_start": digest.window_start,
            "window_end": digest.window_end,
            "total": digest.total,
            "oldest_age_seconds": digest.oldest_age_seconds,
            "groups": [
                {
                    "job": g.job,
                    "exc_type": g.exc_type,
                    "message": g.message,
                    "reason": g.reason,
                    "count": g.count,
                    "first_seen": g.first_seen,
                    "last_seen": g.last_seen,
                }
                for g in digest.groups
            ],
        },
    }


def post_webhook(url: str, payload: dict[str, object], timeout: float) -> int:
    """POST JSON; 5xx, 429 and network errors are transient, other non-2xx permanent."""
    request = urllib.request.Request(  # noqa: S310  (the URL scheme is validated in Settings)
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with (
            external_request("webhook"),
            urllib.request.urlopen(request, timeout=timeout) as response,  # noqa: S310
        ):
            return int(response.status)
    except urllib.error.HTTPError as exc:
        if exc.code >= 500 or exc.code == 429:
            raise TransientError(f"alert webhook answered {exc.code}") from exc
        raise PayloadError(f"alert webhook refused the digest with {exc.code}") from exc
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise TransientError(f"alert webhook unreachable: {type(exc).__name__}") from exc
