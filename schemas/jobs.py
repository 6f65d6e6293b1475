"""Payloads of the scheduled jobs. Every field is optional: beat sends none, ops may pin one."""

from __future__ import annotations

from datetime import UTC, date, datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class JobPayload(BaseModel):
    """Common to all jobs: unknown fields are refused, batch size may be overridden."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    batch_size: int | None = Field(default=None, ge=1, le=100_000)


class DailyPayload(JobPayload):
    """A job whose period is a UTC day (defaults to the day the message was sent)."""

    day: date | None = None

    def resolve_day(self, sent_at: datetime) -> date:
        return self.day or sent_at.astimezone(UTC).date()


class WindowPayload(JobPayload):
    """A job whose period is a window of `window_seconds` (defaults to the one holding send time)."""

    as_of: AwareDatetime | None = None

    def resolve_window(self, sent_at: datetime, window_seconds: int) -> datetime:
        moment = (self.as_of or sent_at).astimezone(UTC)
        epoch = int(moment.timestamp())
        return datetime.fromtimestamp(epoch - epoch % window_seconds, UTC)


class GhostBuildPayload(WindowPayload):
    threshold_seconds: int | None = Field(default=None, ge=60, le=7 * 86400)


class CleanupArtifactsPayload(WindowPayload):
    retention_days: int | None = Field(default=None, ge=1, le=3650)
    keep_latest: int | None = Field(default=None, ge=0, le=1000)


def window_key(start: datetime) -> str:
    """A stable idempotency period for a window: its start in UTC, minute precision."""
    return start.strftime("%Y-%m-%dT%H:%MZ")
