"""Process-level wiring: logging, fork safety, publish headers and start-up safety checks."""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Iterable
from typing import Any

from celery import signals

import celeryconfig
from sheen.db.engine import dispose_engines
from sheen.logging import configure_logging
from sheen.settings import load_settings

UNSAFE_POOLS = ("solo", "thread", "threads")


@signals.setup_logging.connect
def _setup_logging(**_: Any) -> None:
    configure_logging(load_settings())


@signals.worker_process_init.connect
def _after_fork(**_: Any) -> None:
    dispose_engines()


@signals.before_task_publish.connect
def _stamp_headers(headers: dict[str, Any] | None = None, **_: Any) -> None:
    """Every message carries its publish time (queue wait) and a trace id (log correlation)."""
    if headers is None:
        return
    headers.setdefault("sent_at", time.time())
    headers.setdefault("trace_id", uuid.uuid4().hex)


def unsafe_configuration(conf: Any, pool: str, tasks: Iterable[Any] | None = None) -> str | None:
    """Why this worker configuration would break delivery guarantees, or None.

    `tasks` are the registered tasks: their own (scaled) time limits and
    acknowledgement options count, not only the app-wide defaults.
    """
    fleet = [t for t in (tasks or ()) if not t.name.startswith("celery.")]
    limits = [float(t.time_limit) for t in fleet if t.time_limit]
    longest = max(limits) if limits else celeryconfig.longest_hard_time_limit()
    visibility = (conf.broker_transport_options or {}).get("visibility_timeout", 3600)
    if (
        conf.broker_url
        and conf.broker_url.startswith(("redis", "rediss"))
        and visibility <= longest
    ):
        return (
            f"SHEEN_VISIBILITY_TIMEOUT_SECONDS={visibility} must be longer than the longest "
            f"hard time limit ({longest:g} s), or running tasks are delivered twice"
        )
    if conf.task_acks_late and not conf.task_reject_on_worker_lost:
        return "task_acks_late without task_reject_on_worker_lost acknowledges tasks a dead worker lost"
    for task in fleet:
        if task.acks_late and not task.reject_on_worker_lost:
            return f"task {task.name} acks late without reject_on_worker_lost: a dead worker would lose it"
    if pool in UNSAFE_POOLS:
        return f"pool {pool!r} cannot enforce time limits; use prefork"
    return None


@signals.worker_init.connect
def _refuse_unsafe(sender: Any = None, **_: Any) -> None:
    pool_cls = getattr(sender, "pool_cls", None)
    pool = getattr(pool_cls, "__module__", str(pool_cls)).rsplit(".", 1)[-1]
    problem = unsafe_configuration(sender.app.conf, pool, sender.app.tasks.values())
    if problem:
        print(f"sheen: unsafe worker configuration: {problem}", file=sys.stderr)  # noqa: T201
        sys.exit(2)


@signals.worker_ready.connect
def _declare_dead_letters(sender: Any = None, **_: Any) -> None:
    """Make sure the dead-letter exchange and queue exist on the broker before any failure."""
    from workers.dead_lettering import registry

    settings = load_settings()
    if settings.broker_url.startswith(("redis", "rediss")):
        registry(settings).declare(settings.broker_url)
