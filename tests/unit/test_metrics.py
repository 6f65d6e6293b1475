"""The metrics module: names, the label budget, buckets and the recording helpers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from sheen import metrics
from sheen.settings import Settings
from tests.unit.test_alert_rules import ALLOWED_LABELS, FLEET_METRICS
from workers.middleware.metrics import Metrics

SETTINGS = Settings()


def exercise_every_metric() -> None:
    for status in sorted(metrics.RUN_STATUSES):
        metrics.record_run("jobs.daily_reset", status, 0.5, scheduled=True, settings=SETTINGS)
    metrics.observe_queue_wait("jobs", 1.5, SETTINGS)
    metrics.observe_middleware_overhead("jobs.daily_reset", 0.0003, SETTINGS)
    metrics.seed_last_success({"jobs.cleanup_artifacts": 1.0}, SETTINGS)
    with metrics.external_request("webhook", SETTINGS) as call:
        call.check_status(204)
    metrics.record_server_health(True, {"queue_depth": True, "success_rate": False}, SETTINGS)


def all_samples() -> list[tuple[str, dict[str, str]]]:
    sampled = metrics.SampledStateCollector(
        SETTINGS, lambda: {"jobs": 3}, lambda: {"x": 1}, lambda: 0
    )
    families = [*metrics.REGISTRY.collect(), *sampled.collect()]
    return [(s.name, dict(s.labels)) for family in families for s in family.samples]


def test_every_label_is_in_the_budget():
    """Walking the registry finds no label outside {service, environment, region, job, queue, dependency, slo, status}."""
    exercise_every_metric()
    samples = all_samples()
    assert samples
    for name, labels in samples:
        extra = set(labels) - ALLOWED_LABELS - ({"le"} if name.endswith("_bucket") else set())
        assert not extra, f"{name} has labels outside the budget: {extra}"
        assert {"service", "environment", "region"} <= set(labels), name


def test_metric_names_match_the_alert_rules_contract():
    """The module defines exactly the metrics the alert rules and dashboard use, with their types."""
    exercise_every_metric()
    sampled = metrics.SampledStateCollector(
        SETTINGS, lambda: {"jobs": 3}, lambda: {"x": 1}, lambda: 0
    )
    found = {}
    for family in [*metrics.REGISTRY.collect(), *sampled.collect()]:
        name = family.name + ("_total" if family.type == "counter" else "")
        found[name] = family.type
    assert found == FLEET_METRICS


def test_queue_wait_buckets_hold_the_alert_thresholds():
    """30 s and 60 s are bucket bounds, so the P95 alert thresholds are exact."""
    assert {30, 60} <= set(metrics.QUEUE_WAIT_BUCKETS)


def test_label_names_are_declared_in_the_budget():
    """Every declared metric's label names are in LABELS (checked without recording)."""
    for metric in (
        metrics.JOB_DURATION, metrics.JOB_RUNS, metrics.JOB_RETRIES, metrics.QUEUE_WAIT,
        metrics.EXTERNAL_REQUESTS, metrics.LAST_SUCCESS, metrics.SERVER_DEGRADED,
        metrics.SLO_VIOLATED,
    ):  # fmt: skip
        assert set(metric._labelnames) <= metrics.LABELS


def value(name: str, **labels: str) -> float:
    return (
        metrics.REGISTRY.get_sample_value(
            name,
            {"service": "sheen-worker", "environment": "development", "region": "local", **labels},
        )
        or 0.0
    )


def test_external_request_counts_errors_and_successes():
    """A raising block and a 5xx are errors; a 2xx is a success."""
    before_ok = value("sheen_external_requests_total", dependency="http", status="success")
    before_err = value("sheen_external_requests_total", dependency="http", status="error")
    with metrics.external_request("http", SETTINGS) as call:
        call.check_status(200)
    with metrics.external_request("http", SETTINGS) as call:
        call.check_status(503)
    with pytest.raises(TimeoutError), metrics.external_request("http", SETTINGS):
        raise TimeoutError
    assert (
        value("sheen_external_requests_total", dependency="http", status="success") == before_ok + 1
    )
    assert (
        value("sheen_external_requests_total", dependency="http", status="error") == before_err + 2
    )


def test_unknown_dependency_and_status_are_refused():
    """Label values come from fixed sets: a typo fails loudly instead of adding a series."""
    with pytest.raises(ValueError, match="unknown dependency"), metrics.external_request("ftp"):
        pass
    with pytest.raises(ValueError, match="unknown run status"):
        metrics.record_run("x", "exploded", 1.0, settings=SETTINGS)


@dataclass
class FakeCtx:
    job: str = "fleet.ping"
    queue: str | None = "jobs"
    queue_wait_seconds: float | None = 0.2
    status: str = "running"
    settings: Settings = field(default_factory=Settings)


def test_middleware_records_the_final_status():
    """Success, an inner layer's 'skipped', a retry and a failure are each counted once."""
    mw = Metrics()

    def counted(status: str) -> float:
        return value("sheen_job_runs_total", job="fleet.ping", status=status)

    before = {s: counted(s) for s in ("success", "skipped", "retry", "failure")}
    retries_before = value("sheen_job_retries_total", job="fleet.ping")
    mw.around(FakeCtx(), lambda: "ok")

    skipped = FakeCtx()

    def skip() -> Any:
        skipped.status = "skipped"

    mw.around(skipped, skip)

    from celery.exceptions import Retry

    with pytest.raises(Retry):
        mw.around(FakeCtx(), lambda: (_ for _ in ()).throw(Retry("again")))
    with pytest.raises(RuntimeError):
        mw.around(FakeCtx(), lambda: (_ for _ in ()).throw(RuntimeError("boom")))
    for status, earlier in before.items():
        assert counted(status) == earlier + 1, status
    assert value("sheen_job_retries_total", job="fleet.ping") == retries_before + 1


def test_sampled_collector_survives_a_failing_source():
    """A broken sample source leaves its series out of that scrape instead of failing it."""

    def broken() -> dict[str, int]:
        raise ConnectionError

    collector = metrics.SampledStateCollector(SETTINGS, broken, lambda: {"fleet.ping": 2})
    families = {f.name: f for f in collector.collect()}
    assert families["sheen_queue_depth"].samples == []
    assert families["sheen_dead_letters"].samples[0].value == 2
