"""A fast schedule for the beat failover test (SHEEN_EXTRA_BEAT_SCHEDULE): one tick every 5 s.

Kept apart from tests.probes.beat so celeryconfig can read it without importing the app.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery.schedules import schedule

TICK_SECONDS = 5.0

beat_schedule: dict[str, dict[str, Any]] = {
    "probe.beat_tick": {
        "task": "probe.beat_tick",
        "schedule": schedule(timedelta(seconds=TICK_SECONDS)),
    }
}
