"""The worker's scrape endpoint: prometheus-client multiprocess mode under prefork.

Order matters. The worker class (workers/startup.py, before Celery imports any task
module and so before `sheen.metrics` creates a metric) points PROMETHEUS_MULTIPROC_DIR
at a per-worker folder emptied at start; pool children inherit it and each writes its
own files. `worker_ready`
starts the HTTP server in the main process (MultiProcessCollector adds the files up,
plus queue depth and dead letters sampled at scrape time) and seeds the
last-success gauges from job_runs. A child that exits is marked dead.

Nothing here imports prometheus_client at module import: beat, Flower and the
sidecar import `workers.app` too and must keep plain in-process metrics.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import structlog
from celery import signals

from sheen.settings import Settings, load_settings

log = structlog.get_logger("sheen.metrics")
ENV_VAR = "PROMETHEUS_MULTIPROC_DIR"


def multiproc_dir(settings: Settings, nodename: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.@-]", "_", nodename) or "worker"
    return (settings.state_dir / "metrics" / safe).resolve()


def prepare_multiproc_dir(settings: Settings, nodename: str) -> Path:
    """Create (or empty) this worker's folder and point prometheus-client at it."""
    path = multiproc_dir(settings, nodename)
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    os.environ[ENV_VAR] = str(path)
    if "prometheus_client" in sys.modules:
        from prometheus_client import values

        values.ValueClass = values.get_value_class()
    if "sheen.metrics" in sys.modules:
        log.error("metrics_defined_before_multiproc_dir", path=str(path))
    return path


def scrape_registry(settings: Settings) -> Any:
    """Registry for the main process: every child's files plus the sampled gauges."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    from sheen.ledger.audit import missing_count
    from sheen.metrics import SampledStateCollector
    from sheen.services.state_sources import dead_letter_counts, queue_depth_sampler

    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    registry.register(
        SampledStateCollector(
            settings,
            queue_depth_sampler(settings),
            lambda: dead_letter_counts(settings),
            lambda: missing_count(settings),
        )
    )
    return registry


def start_server(settings: Settings) -> Any | None:
    if not settings.metrics_port:
        log.info("metrics_server_disabled")
        return None
    from prometheus_client import start_http_server

    try:
        server, _thread = start_http_server(
            settings.metrics_port, settings.metrics_host, registry=scrape_registry(settings)
        )
    except OSError as exc:
        log.warning(
            "metrics_server_not_started", port=settings.metrics_port, error=exc.strerror or ""
        )
        return None
    log.info(
        "metrics_server_started",
        url=f"http://{settings.metrics_host}:{settings.metrics_port}/metrics",
    )
    return server


def seed_from_job_runs(settings: Settings) -> None:
    from sheen import metrics
    from sheen.db.engine import get_engine
    from sheen.services.overview import last_success_times

    try:
        times = last_success_times(get_engine(settings))
    except Exception as exc:  # the worker must start even if PostgreSQL is slow to come
        log.warning("last_success_seed_failed", error_type=type(exc).__name__)
        return
    metrics.seed_last_success(times, settings)


@signals.worker_ready.connect
def _serve(**_: Any) -> None:
    settings = load_settings()
    seed_from_job_runs(settings)
    start_server(settings)


@signals.worker_process_shutdown.connect
def _child_exit(pid: int | None = None, **_: Any) -> None:
    if os.environ.get(ENV_VAR):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())
