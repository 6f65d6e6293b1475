"""The throughput baseline: bare Celery, no middleware, with the fleet's reliability settings.

Same broker and serializer; late acknowledgement, reject on worker lost and
prefetch 1 (what at-least-once costs); results stored like the fleet's.
Started as `celery -A benchmarks.bare_app worker` by benchmarks/ping.py, which
sets BARE_BROKER_URL / BARE_RESULT_URL.
"""

from __future__ import annotations

import os

from celery import Celery

app = Celery("bare")
app.conf.update(
    broker_url=os.environ.get("BARE_BROKER_URL", "redis://127.0.0.1:6379/0"),
    result_backend=os.environ.get("BARE_RESULT_URL", "redis://127.0.0.1:6379/1"),
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_default_queue="bare",
    worker_hijack_root_logger=False,
)
if os.environ.get("BARE_PROFILE") == "fleet-config":
    # The fleet's whole Celery configuration (events, track_started, extended results...),
    # minus the middleware: isolates what the middleware itself costs.
    from celeryconfig import STATIC

    app.conf.update(
        {k: v for k, v in STATIC.items() if k not in ("beat_schedule", "worker_consumer")}
    )
    app.conf.update(task_default_queue="bare")


@app.task(name="bare.ping")
def ping() -> dict[str, bool]:
    return {"pong": True}
