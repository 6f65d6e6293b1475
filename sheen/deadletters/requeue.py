"""A dead letter turned back into a Celery task message (protocol 2) for the Redis transport.

Built here rather than with `send_task` so a bulk requeue can pipeline thousands of
LPUSHes in one round trip; the format is Celery's documented message protocol v2.
"""

from __future__ import annotations

import base64
import json
import socket
import time
import uuid

from sheen.deadletters.letter import DeadLetter


def task_envelope(letter: DeadLetter, now: float | None = None) -> str:
    """A new message (new task id) for the letter's task, linked to the letter by header."""
    task_id = str(uuid.uuid4())
    headers: dict[str, object] = {
        "lang": "py",
        "task": letter.task,
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
        "argsrepr": repr(letter.args),
        "kwargsrepr": repr(letter.kwargs),
        "origin": f"sheen-ops@{socket.gethostname()}",
        "ignore_result": False,
        # Kept from the original: same trace, same period (sent_at), same idempotency key.
        "trace_id": letter.headers.get("trace_id") or uuid.uuid4().hex,
        "sent_at": letter.headers.get("sent_at") or now or time.time(),
        "dead_letter_id": letter.id,
        "requeued_at": now or time.time(),
    }
    if letter.idempotency_key:
        headers["idempotency_key"] = letter.idempotency_key
    body = json.dumps(
        [
            letter.args,
            letter.kwargs,
            {"callbacks": None, "errbacks": None, "chain": None, "chord": None},
        ]
    )
    return json.dumps(
        {
            "body": base64.b64encode(body.encode()).decode(),
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": headers,
            "properties": {
                "correlation_id": task_id,
                "reply_to": "",
                "delivery_mode": 2,
                "delivery_info": {"exchange": "", "routing_key": letter.queue},
                "priority": 0,
                "body_encoding": "base64",
                "delivery_tag": str(uuid.uuid4()),
            },
        },
        separators=(",", ":"),
    )
