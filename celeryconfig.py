"""Celery configuration: the static delivery guarantees, plus the URLs from Settings.

Late acknowledgement with reject-on-worker-lost and prefetch 1 make delivery
at-least-once; idempotency keys make the effect exactly-once. JSON only: pickle
would let a message execute code.
"""

from __future__ import annotations

import importlib
from typing import Any

from kombu import Queue

from beat_schedule import HARD_LIMIT_GRACE_SECONDS, JOBS, SOFT_LIMIT_FACTOR, beat_schedule
from sheen import broker
from sheen.deploy import tls
from sheen.settings import Settings

STATIC: dict[str, Any] = {
    "task_serializer": "json",
    "result_serializer": "json",
    "accept_content": ["json"],
    "result_accept_content": ["json"],
    "task_acks_late": True,
    "task_reject_on_worker_lost": True,
    "task_acks_on_failure_or_timeout": True,
    "worker_prefetch_multiplier": 1,
    # Events off by default (Celery's default): they cost the worker's main process, the
    # bottleneck for small tasks, about half its throughput. Flower turns them on while it
    # runs (it broadcasts enable_events); `make run` and compose start workers with -E.
    # STARTED states are not tracked in the result backend: job_runs records every start.
    "task_track_started": False,
    "task_send_sent_event": False,
    "worker_send_task_events": False,
    "result_expires": 86400,
    "result_extended": True,
    "enable_utc": True,
    "timezone": "UTC",
    "task_default_queue": "jobs",
    "broker_connection_retry_on_startup": True,
    "worker_hijack_root_logger": False,
    "worker_max_tasks_per_child": 10000,
    # Messages the worker cannot run (unknown task, undecodable) are dead-lettered, not dropped.
    "worker_consumer": "workers.consumer:DeadLetteringConsumer",
}


class ScaledTimeLimits:
    """Task annotation: watchdog limits from each task's expected runtime, times a scale.

    Scale 1 leaves the declared limits alone. Tests use a small scale so the broker
    visibility timeout (which must exceed every hard limit) can be a few seconds.
    """

    def __init__(self, scale: float) -> None:
        self.scale = scale

    def annotate(self, task: Any) -> dict[str, float] | None:
        expected = getattr(task, "expected_runtime_seconds", None)
        if expected is None or self.scale == 1:
            return None
        soft = SOFT_LIMIT_FACTOR * expected * self.scale
        return {"soft_time_limit": soft, "time_limit": soft + HARD_LIMIT_GRACE_SECONDS * self.scale}


def longest_hard_time_limit(scale: float = 1.0) -> float:
    return max(job.time_limit for job in JOBS) * scale


def queues(settings: Settings) -> tuple[Queue, ...]:
    """The default queue (scheduled jobs, the CLI) and, outside "local", this region's queue."""
    kind = broker.kind(settings.broker_url)
    names = [broker.DEFAULT_QUEUE]
    if settings.region != "local":
        names.append(broker.region_queue(settings.region))
    return tuple(broker.task_queue(n, kind, settings.broker_delivery_limit) for n in names)


def beat(settings: Settings) -> dict[str, Any]:
    """Beat HA: RedBeat keeps the schedule's last-run times in Redis behind a lease, so any
    number of beats may run; one holds the lock and sends, the others wait to take over."""
    schedule = dict(beat_schedule)
    if settings.extra_beat_schedule:
        schedule.update(importlib.import_module(settings.extra_beat_schedule).beat_schedule)
    lock = settings.beat_lock_timeout_seconds
    return {
        "beat_schedule": schedule,
        "beat_scheduler": "redbeat.RedBeatScheduler",
        "redbeat_redis_url": settings.redis_url,
        "redbeat_redis_options": {"socket_timeout": 5, "socket_connect_timeout": 5},
        "redbeat_key_prefix": "sheen:beat:",
        "redbeat_lock_timeout": lock,
        # The active beat renews its lease every loop; a standby polls the lock as often.
        "beat_max_loop_interval": max(1, lock // 5),
    }


def broker_options(settings: Settings) -> dict[str, Any]:
    """What differs between the brokers: Redis's visibility timeout, RabbitMQ's quorum queues."""
    if broker.kind(settings.broker_url) == "rabbitmq":
        return {
            # Quorum queues refuse global QoS: Celery detects them and uses per-consumer QoS.
            "worker_detect_quorum_queues": True,
            "task_create_missing_queue_type": "quorum",
            "broker_native_delayed_delivery_queue_type": "quorum",
            "broker_transport_options": {"confirm_publish": True},
        }
    transport = {"visibility_timeout": settings.visibility_timeout_seconds}
    # kombu scans for expired unacked messages every `interval` s but, by default, only on
    # every 10th tick: a dead worker's task came back up to ~100 s after its visibility
    # timeout. Scan every tick, a few times per visibility timeout.
    restore = {
        "unacked_restore_throttle": 1,
        "unacked_restore_interval": max(1, min(10, settings.visibility_timeout_seconds // 4)),
    }
    return {"broker_transport_options": {**transport, **restore}}


def build(settings: Settings) -> dict[str, Any]:
    """The full configuration mapping for `app.conf.update`."""
    transport = {"visibility_timeout": settings.visibility_timeout_seconds}
    return {
        **STATIC,
        **beat(settings),
        **broker_options(settings),
        "task_queues": queues(settings),
        "broker_url": settings.broker_url,
        "result_backend": settings.redis_url,
        **tls.celery_ssl_options(settings),  # rediss:// broker or backend
        "result_backend_transport_options": transport,
        "worker_concurrency": settings.worker_concurrency,
        "beat_schedule_filename": str(settings.state_dir / "celerybeat-schedule"),
        "task_annotations": (ScaledTimeLimits(settings.time_limit_scale),),
        "imports": tuple(m for m in settings.extra_task_modules.split(",") if m),
    }
