"""The Celery app: `celery -A workers.app worker|beat|inspect|flower`.

Configuration is loaded lazily (on first use of `app.conf`), so importing this
module reads no environment; a bad setting exits with status 2 and one line.
"""

from __future__ import annotations

import sys
from typing import Any

from celery import Celery

import celeryconfig
from sheen.errors import ConfigError
from sheen.settings import load_settings
from workers.startup import FleetCelery

TASK_MODULES = (
    "tasks.daily_reset",
    "tasks.ghost_builds",
    "tasks.daily_bonus_reset",
    "tasks.cleanup_artifacts",
    "tasks.dlq_digest",
    "tasks.fleet",
    "tasks.version_history",
    "tasks.verification",
    "tasks.analytics",
    "tasks.notifications",
    "tasks.artifacts",
    "tasks.operations",
    "tasks.maintenance",
    "tasks.rollups",
)

# FleetCelery: its worker refuses unsafe defaults and sets the metrics folder first.
app = FleetCelery("sheen", include=list(TASK_MODULES), task_cls="workers.base:FleetTask")


@app.on_configure.connect
def _configure(sender: Celery, **_: Any) -> None:
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"sheen: configuration error: {exc}", file=sys.stderr)  # noqa: T201
        sys.exit(2)
    sender.conf.update(celeryconfig.build(settings))


import workers.metrics_exporter  # noqa: E402  (the worker's /metrics, multiprocess mode)
import workers.signals  # noqa: E402,F401  (connects the process-level signal handlers)
