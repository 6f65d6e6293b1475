"""Process-level wiring: logging, fork safety, publish headers and start-up safety checks."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from typing import Any

from celery import signals

import celeryconfig
import workers.accounting  # noqa: F401  (lost-task accounting: sent at publish, done at the end)
from sheen.db.engine import dispose_engines
from sheen.logging import configure_logging
from sheen.settings import Settings, load_settings

UNSAFE_POOLS = ("solo", "thread", "threads")


@signals.setup_logging.connect
def _setup_logging(**_: Any) -> None:
    configure_logging(load_settings())


@signals.worker_process_init.connect
def _after_fork(**_: Any) -> None:
    dispose_engines()
    # OpenTelemetry per pool process (the SDK's export thread does not survive a fork).
    from sheen.analytics.tracing import setup_tracing

    setup_tracing(load_settings())


@signals.worker_process_shutdown.connect
def _flush_spans(**_: Any) -> None:
    from sheen.analytics.tracing import shutdown_tracing

    shutdown_tracing()


@signals.before_task_publish.connect
def _stamp_headers(headers: dict[str, Any] | None = None, **_: Any) -> None:
    """Every message carries its publish time (queue wait), a W3C traceparent whose trace
    id is also its `trace_id` header (log correlation), and a request_id."""
    if headers is None:
        return
    headers.setdefault("sent_at", time.time())
    from sheen.analytics.trace_context import stamp_headers

    stamp_headers(headers, load_settings().trace_sample_ratio)


def unsafe_configuration(  # noqa: PLR0911  (one early return per refusal reads best)
    conf: Any, pool: str, tasks: Iterable[Any] | None = None, settings: Settings | None = None
) -> str | None:
    """Why this worker configuration would break delivery guarantees, or None.

    `tasks` are the registered tasks: their own (scaled) time limits and
    acknowledgement options count, not only the app-wide defaults.
    """
    from workers.middleware.idempotency import lease_seconds

    settings = settings or load_settings()
    scale = settings.time_limit_scale
    fleet = [t for t in (tasks or ()) if not t.name.startswith("celery.")]
    limits = [float(t.time_limit) for t in fleet if t.time_limit]
    longest = max(limits) if limits else celeryconfig.longest_hard_time_limit()
    visibility = (conf.broker_transport_options or {}).get("visibility_timeout", 3600)
    on_redis = bool(conf.broker_url and conf.broker_url.startswith(("redis", "rediss")))
    lease = lease_seconds(longest, scale)
    if on_redis and visibility <= lease:
        return (
            f"SHEEN_VISIBILITY_TIMEOUT_SECONDS={visibility} must be longer than the longest "
            f"hard time limit ({longest:g} s) plus its lease margin ({lease:g} s), or running "
            "tasks are delivered twice"
        )
    backoff_cap = settings.retry_backoff_max_seconds * scale
    if on_redis and visibility <= backoff_cap:
        return (
            f"SHEEN_RETRY_BACKOFF_MAX_SECONDS={settings.retry_backoff_max_seconds:g} (x scale "
            f"{scale:g} = {backoff_cap:g} s) must be shorter than SHEEN_VISIBILITY_TIMEOUT_SECONDS"
            f"={visibility}, or a retry waiting for its countdown is delivered twice"
        )
    retries = max([t.max_retries or 0 for t in fleet] or [5])
    horizon = visibility + (retries + 1) * max(backoff_cap, lease)
    if settings.done_key_retention_seconds < horizon:
        return (
            f"SHEEN_DONE_KEY_RETENTION_SECONDS={settings.done_key_retention_seconds} must be at "
            f"least {horizon:g} s (visibility timeout + every retry's backoff), or a late copy of "
            "a finished task runs again"
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


@signals.worker_init.connect
def _check_services(sender: Any = None, **_: Any) -> None:
    """One actionable line (service, URL without password, setting) instead of a traceback."""
    from sheen.reachability import EXIT_STATUS, ServiceUnreachable, check_services

    try:
        check_services(load_settings())
    except ServiceUnreachable as exc:
        print(f"sheen: {exc.line()}", file=sys.stderr)  # noqa: T201
        sys.exit(EXIT_STATUS)


@signals.worker_ready.connect
def _declare_dead_letters(sender: Any = None, **_: Any) -> None:
    """Make sure the dead-letter exchange and queue exist on the broker before any failure."""
    from workers.dead_lettering import registry

    settings = load_settings()
    registry(settings).declare(settings.broker_url)
