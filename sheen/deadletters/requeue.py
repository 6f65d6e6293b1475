"""A dead letter turned back into a Celery task message (protocol 2) for the Redis transport.

Built here rather than with `send_task` so a bulk requeue can pipeline thousands of
LPUSHes in one round trip; the format is Celery's documented message protocol v2.
The body is plain JSON (kombu's `body_encoding` unset), which kombu reads as is.
"""

from __future__ import annotations

import json
import socket
import time
import uuid
from functools import cache
from typing import Any

_EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


@cache
def _origin() -> str:
    return f"sheen-ops@{socket.gethostname()}"


def task_envelope(letter: dict[str, Any], now: float | None = None) -> str:
    """A new message (new task id) for a letter's task (its dict form), linked back by header."""
    task_id = str(uuid.uuid4())
    now = now or time.time()
    kept = letter.get("headers") or {}
    args, kwargs = letter.get("args") or [], letter.get("kwargs") or {}
    headers: dict[str, object] = {
        "lang": "py",
        "task": letter["task"],
        "id": task_id,
        "shadow": None,
        "eta": None,
        "expires": None,
        "group": None,
        "group_index": None,
        "retries": 0,
        "timelimit": [None, None],
        "root_id": task_id,
        "parent_id": None,
        "argsrepr": repr(args),
        "kwargsrepr": repr(kwargs),
        "origin": _origin(),
        "ignore_result": False,
        # Kept from the original: same trace, same period (sent_at), same idempotency key.
        "trace_id": kept.get("trace_id") or uuid.uuid4().hex,
        "sent_at": kept.get("sent_at") or now,
        "dead_letter_id": letter["id"],
        "requeued_at": now,
    }
    key = letter.get("idempotency_key") or kept.get("idempotency_key")
    if key:
        headers["idempotency_key"] = key
    return json.dumps(
        {
            "body": json.dumps([args, kwargs, _EMBED]),
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": headers,
            "properties": {
                "correlation_id": task_id,
                "reply_to": "",
                "delivery_mode": 2,
                "delivery_info": {"exchange": "", "routing_key": letter["queue"]},
                "priority": 0,
                "body_encoding": None,
                "delivery_tag": task_id,
            },
        },
        separators=(",", ":"),
    )
