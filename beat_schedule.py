"""The scheduled jobs: cadence, expected runtime and idempotency period of each.

The watchdog derives every job's time limits from its expected runtime
(soft = 3x, hard = soft + grace), and the broker visibility timeout must exceed
the longest hard limit (checked when a worker starts).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from celery.schedules import crontab

Period = Literal["day", "hour", "window5m", "minute"]
SOFT_LIMIT_FACTOR = 3
HARD_LIMIT_GRACE_SECONDS = 30


@dataclass(frozen=True)
class ScheduledJob:
    name: str
    schedule: crontab
    cadence: str
    expected_runtime_seconds: int
    period: Period
    period_seconds: int

    @property
    def soft_time_limit(self) -> int:
        return self.expected_runtime_seconds * SOFT_LIMIT_FACTOR

    @property
    def time_limit(self) -> int:
        return self.soft_time_limit + HARD_LIMIT_GRACE_SECONDS


JOBS: tuple[ScheduledJob, ...] = (
    ScheduledJob(
        "jobs.daily_reset", crontab(minute="0", hour="0"), "daily 00:00 UTC", 300, "day", 86400
    ),
    ScheduledJob(
        "jobs.ghost_build_detection", crontab(minute="*/5"), "every 5 minutes", 60, "window5m", 300
    ),
    ScheduledJob(
        "jobs.daily_bonus_reset",
        crontab(minute="5", hour="0"),
        "daily 00:05 UTC",
        300,
        "day",
        86400,
    ),
    ScheduledJob(
        "jobs.cleanup_artifacts", crontab(minute="15"), "hourly at :15", 300, "hour", 3600
    ),
    # Artifact lifecycle after the soft delete (sheen/artifacts): hot -> cold, then purge.
    ScheduledJob(
        "jobs.artifacts_cold_move", crontab(minute="25"), "hourly at :25", 600, "hour", 3600
    ),
    ScheduledJob(
        "jobs.artifacts_purge", crontab(minute="35", hour="3"), "daily 03:35 UTC", 600, "day", 86400
    ),
    ScheduledJob("jobs.dlq_digest", crontab(minute="0"), "hourly at :00", 20, "hour", 3600),
    # Done-marks are kept by time (SHEEN_DONE_MARK_RETENTION_DAYS): older ones go, in batches.
    ScheduledJob(
        "jobs.prune_done_marks", crontab(minute="10", hour="4"), "daily 04:10 UTC", 60, "day", 86400
    ),
    # The job_runs roll-up keeps SHEEN_ROLLUP_RETENTION_DAYS of hours; older ones go, in batches.
    ScheduledJob(
        "jobs.prune_job_run_rollups",
        crontab(minute="20", hour="4"),
        "daily 04:20 UTC",
        60,
        "day",
        86400,
    ),
    # Evaluates the SLOs and advances the degraded state whether or not anyone looks.
    ScheduledJob("ops.server_health", crontab(minute="*"), "every minute", 10, "minute", 60),
)

JOBS_BY_NAME = {job.name: job for job in JOBS}

beat_schedule = {
    job.name: {
        "task": job.name,
        "schedule": job.schedule,
        # Nobody waits on a scheduled run (job_runs records its outcome): no result write.
        "options": {"expires": job.period_seconds, "ignore_result": True},
    }
    for job in JOBS
}
