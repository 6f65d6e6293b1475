"""The ping baseline on RabbitMQ: benchmarks/bare_app.py, its queue a quorum queue.

Bare Celery on the same broker and the same queue type as the fleet, so the ratio
measures the fleet's middleware, not classic against quorum queues.
"""

from __future__ import annotations

from benchmarks.bare_app import app, ping

app.conf.update(task_default_queue_type="quorum", worker_detect_quorum_queues=True)

__all__ = ["app", "ping"]
