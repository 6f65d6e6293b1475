"""The lost-task ledger on real Redis: bounded, retries restart the clock, gauge at scrape time."""

from __future__ import annotations

import time

import redis
from prometheus_client import CollectorRegistry

from sheen.ledger import TaskLedger
from sheen.ledger.ledger import OPEN
from sheen.metrics import SampledStateCollector
from sheen.settings import load_settings


def _ledger(services, **kwargs) -> TaskLedger:
    return TaskLedger(redis.Redis.from_url(services.redis_url), **kwargs)


def test_ledger_is_bounded_by_count_and_age(db, services):
    """Past max_entries the oldest are dropped; entries older than the retention go on the next send."""
    # Given a ledger of at most 100 entries and a 60 s retention
    ledger = _ledger(services, retention_seconds=60, max_entries=100)
    now = time.time()
    # When 150 tasks are sent, then one older than the retention, then one more
    for n in range(150):
        ledger.sent(f"t{n}", "jobs.x", due_at=now - 50 + n / 10)
    assert ledger.open_count() == 100
    ledger.sent("old", "jobs.x", due_at=now - 120)
    ledger.sent("new", "jobs.x")
    # Then the set holds at most 100, the oldest (t0..t49 and `old`) gone
    members = {m.decode().split()[0] for m in ledger.client.zrange(OPEN, 0, -1)}
    assert len(members) == 100 and "t0" not in members and "old" not in members
    assert "new" in members and "t149" in members


def test_done_closes_and_a_retry_restarts_the_clock(db, services):
    """`done` removes the task; sending the same id again (a retry) moves its due time."""
    # Given
    ledger = _ledger(services)
    ledger.sent("a", "jobs.x", due_at=100.0)
    ledger.sent("b", "jobs.x", due_at=100.0)
    # When a is retried (published again later) and b finishes
    ledger.sent("a", "jobs.x", due_at=time.time())
    ledger.done("b", "jobs.x")
    # Then only a is open, and it is not overdue by a 60 s grace
    assert ledger.open_count() == 1
    assert ledger.overdue(60) == []
    assert [m.task_id for m in ledger.overdue(-3600)] == ["a"]
    assert ledger.missing(-3600, set) == []  # kept as a dead letter: not missing


def test_missing_tasks_gauge_is_sampled_at_scrape(db, services):
    """The sampled collector exports sheen_tasks_missing with the fleet labels only."""
    # Given
    collector = SampledStateCollector(load_settings(), dict, None, lambda: 2)
    registry = CollectorRegistry()
    registry.register(collector)
    # Then
    labels = {"service": "sheen-worker", "environment": "ci", "region": "local"}
    assert registry.get_sample_value("sheen_tasks_missing", labels) == 2.0
