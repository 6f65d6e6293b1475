"""Results are written only for callers that wait: beat's scheduled runs ask for none."""

from __future__ import annotations

import beat_schedule


def test_every_scheduled_run_is_published_without_a_result() -> None:
    """Each beat entry publishes with ignore_result: nobody waits, job_runs records the outcome."""
    # Given / When the schedule beat publishes from / Then every entry opts out of results
    assert beat_schedule.beat_schedule
    for name, entry in beat_schedule.beat_schedule.items():
        assert entry["options"].get("ignore_result") is True, name
