"""Helpers every scheduled job shares: its catalog entry and time limits."""

from __future__ import annotations

from typing import Any

from beat_schedule import JOBS_BY_NAME


def job_options(name: str) -> dict[str, Any]:
    """Celery task options for a scheduled job: watchdog limits from its expected runtime."""
    job = JOBS_BY_NAME[name]
    return {
        "name": name,
        "bind": False,
        "expected_runtime_seconds": job.expected_runtime_seconds,
        "soft_time_limit": job.soft_time_limit,
        "time_limit": job.time_limit,
    }
