"""Process-level wiring: logging, fork safety, publish headers and start-up safety checks."""

from __future__ import annotations

import sys
import time
import uuid
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


def unsafe_configuration(conf: Any, pool: str) -> str | None:
    """Why this worker configuration would break delivery guarantees, or None."""
    longest = celeryconfig.longest_hard_time_limit()
    visibility = (conf.broker_transport_options or {}).get("visibility_timeout", 3600)
    if (
        conf.broker_url
        and conf.broker_url.startswith(("redis", "rediss"))
        and visibility <= longest
    ):
        return (
            f"SHEEN_VISIBILITY_TIMEOUT_SECONDS={visibility} must be longer than the longest "
            f"hard time limit ({longest} s), or running tasks are delivered twice"
        )
    if conf.task_acks_late and not conf.task_reject_on_worker_lost:
        return "task_acks_late without task_reject_on_worker_lost acknowledges tasks a dead worker lost"
    if pool in UNSAFE_POOLS:
        return f"pool {pool!r} cannot enforce time limits; use prefork"
    return None


@signals.worker_init.connect
def _refuse_unsafe(sender: Any = None, **_: Any) -> None:
    pool_cls = getattr(sender, "pool_cls", None)
    pool = getattr(pool_cls, "__module__", str(pool_cls)).rsplit(".", 1)[-1]
    problem = unsafe_configuration(sender.app.conf, pool)
    if problem:
        print(f"sheen: unsafe worker configuration: {problem}", file=sys.stderr)  # noqa: T201
        sys.exit(2)
