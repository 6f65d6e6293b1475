"""Every Prometheus metric of the fleet, defined here and nowhere else.

Names follow Prometheus conventions (base units, `_total` counters); the plan's
"duration_ms, success, retries_total" map to `sheen_job_duration_seconds`,
`sheen_job_runs_total{status="success"}` and `sheen_job_retries_total`
(docs/observability.md). Labels are limited to LABELS: `service`, `environment`
and `region` are on every series (filled from Settings at record time, never read
at import), plus one subject label (job, queue or dependency) and `status`.

Under the prefork pool the worker sets PROMETHEUS_MULTIPROC_DIR before this module
is imported (workers/startup.py, before Celery imports any task module), so every
metric created here writes per-child files and the main process adds them up at
scrape time (tests/acceptance/test_clean_start.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from sheen.settings import Settings, load_settings

FLEET_LABELS = ("service", "environment", "region")
LABELS = frozenset({*FLEET_LABELS, "job", "queue", "dependency", "slo", "status"})
RUN_STATUSES = frozenset({"success", "failure", "retry", "timeout", "skipped"})
DEPENDENCIES = frozenset({"webhook", "s3", "http", "smtp"})
# Publish-to-start latency: the alert thresholds (30 s, 60 s) must be bucket bounds.
QUEUE_WAIT_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 45, 60, 120, 300, 900)
DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 900, 1800)

# A registry of our own: the default one carries process/platform collectors whose
# labels (version, implementation) are outside the label budget.
REGISTRY = CollectorRegistry(auto_describe=True)

JOB_DURATION = Histogram(
    "sheen_job_duration_seconds",
    "Run time of one execution, by final status.",
    [*FLEET_LABELS, "job", "status"],
    buckets=DURATION_BUCKETS,
    registry=REGISTRY,
)
JOB_RUNS = Counter(
    "sheen_job_runs",
    "Executions by final status: success, failure, retry, timeout, skipped.",
    [*FLEET_LABELS, "job", "status"],
    registry=REGISTRY,
)
JOB_RETRIES = Counter(
    "sheen_job_retries",
    "Executions that ended in a scheduled retry.",
    [*FLEET_LABELS, "job"],
    registry=REGISTRY,
)
QUEUE_WAIT = Histogram(
    "sheen_queue_wait_seconds",
    "Publish-to-start latency; deliberate delays (ETA, countdown, retry back-off) excluded.",
    [*FLEET_LABELS, "queue"],
    buckets=QUEUE_WAIT_BUCKETS,
    registry=REGISTRY,
)
# Per-task cost of the pipeline itself (target P95 < 0.5 ms): fine buckets below 1 ms.
OVERHEAD_BUCKETS = (
    0.00005, 0.0001, 0.00015, 0.0002, 0.00025, 0.0003, 0.0004, 0.0005, 0.00075,
    0.001, 0.002, 0.005, 0.01, 0.05,
)  # fmt: skip
MIDDLEWARE_OVERHEAD = Histogram(
    "sheen_middleware_overhead_seconds",
    "Time one execution spent in the middleware pipeline outside the task body.",
    [*FLEET_LABELS, "job"],
    buckets=OVERHEAD_BUCKETS,
    registry=REGISTRY,
)
EXTERNAL_REQUESTS = Counter(
    "sheen_external_requests",
    "Outgoing calls (webhook, s3, http) by outcome: success or error.",
    [*FLEET_LABELS, "dependency", "status"],
    registry=REGISTRY,
)
MIGRATION_VERIFICATIONS = Counter(
    "sheen_migration_verifications",
    "Site-migration verification runs by result: success, failure or refused.",
    [*FLEET_LABELS, "status"],
    registry=REGISTRY,
)
ARTIFACT_LIFECYCLE = Counter(
    "sheen_artifact_lifecycle",
    "Artifacts through a lifecycle step (status): soft_deleted, moved, purged.",
    [*FLEET_LABELS, "status"],
    registry=REGISTRY,
)
ARTIFACT_RESTORES = Counter(
    "sheen_artifact_restores",
    "Artifact restore attempts by outcome: restored, verified (dry run), refused.",
    [*FLEET_LABELS, "status"],
    registry=REGISTRY,
)
ARTIFACT_RESTORE_REFUSALS = Counter(
    "sheen_artifact_restore_refusals",
    "Refused artifact restores by reason: hash_mismatch, purged, missing, not_deleted, not_found.",
    [*FLEET_LABELS, "status"],
    registry=REGISTRY,
)
MIGRATION_ANALYTICS_EVENTS = Counter(
    "sheen_migration_analytics_events",
    "Migration analytics events by outcome: written, duplicate (a redelivery), refused "
    "(validation), error (the database did not take it).",
    [*FLEET_LABELS, "status"],
    registry=REGISTRY,
)
LAST_SUCCESS = Gauge(
    "sheen_job_last_success_timestamp_seconds",
    "Unix time of the last successful run of a scheduled job.",
    [*FLEET_LABELS, "job"],
    multiprocess_mode="max",
    registry=REGISTRY,
)
# Set by the beat's health evaluation (ops.server_health) in whichever pool child ran it:
# `mostrecent` makes the scrape show the latest evaluation, not the max over children.
SERVER_DEGRADED = Gauge(
    "sheen_server_degraded",
    "1 while two or more SLOs have been violated for the degraded window, else 0.",
    [*FLEET_LABELS],
    multiprocess_mode="mostrecent",
    registry=REGISTRY,
)
SLO_VIOLATED = Gauge(
    "sheen_slo_violated",
    "1 while an SLO (a fixed set of six, the `slo` label) is violated, else 0.",
    [*FLEET_LABELS, "slo"],
    multiprocess_mode="mostrecent",
    registry=REGISTRY,
)
SLO_NAMES = frozenset(
    {
        "ai_provider_capacity",
        "redis_latency",
        "queue_depth",
        "dequeue_latency_p95",
        "runtime_p95",
        "success_rate",
    }
)
# Sampled at scrape time (SampledStateCollector), never stored: these two names are
# declared here so the one-module rule holds, with their help text.
QUEUE_DEPTH_NAME = "sheen_queue_depth"
QUEUE_DEPTH_HELP = "Messages waiting in a queue, sampled (Redis LLEN) at scrape time."
DEAD_LETTERS_NAME = "sheen_dead_letters"
DEAD_LETTERS_HELP = "Messages in the dead-letter queue by job, sampled at scrape time."
TASKS_MISSING_NAME = "sheen_tasks_missing"
TASKS_MISSING_HELP = (
    "Tasks sent but never finished past the visibility timeout plus a margin (lost-task "
    "ledger, dead letters excluded), sampled at scrape time."
)


def fleet_labels(settings: Settings | None = None) -> tuple[str, str, str]:
    settings = settings or load_settings()
    return (settings.service_name, settings.env.value, settings.region)


def record_run(
    job: str,
    status: str,
    duration_seconds: float,
    *,
    scheduled: bool = False,
    now: float | None = None,
    settings: Settings | None = None,
) -> None:
    """Count one finished execution with its final status and run time."""
    if status not in RUN_STATUSES:
        raise ValueError(f"unknown run status {status!r}")
    base = fleet_labels(settings)
    JOB_RUNS.labels(*base, job, status).inc()
    JOB_DURATION.labels(*base, job, status).observe(max(duration_seconds, 0.0))
    if status == "retry":
        JOB_RETRIES.labels(*base, job).inc()
    if status == "success" and scheduled:
        LAST_SUCCESS.labels(*base, job).set(time.time() if now is None else now)


def record_server_health(
    degraded: bool, violated: Mapping[str, bool], settings: Settings | None = None
) -> None:
    """Export one health evaluation: the degraded flag and each SLO's violation."""
    base = fleet_labels(settings)
    SERVER_DEGRADED.labels(*base).set(1 if degraded else 0)
    for slo, is_violated in violated.items():
        if slo not in SLO_NAMES:
            raise ValueError(f"unknown SLO {slo!r}")
        SLO_VIOLATED.labels(*base, slo).set(1 if is_violated else 0)


def observe_middleware_overhead(job: str, seconds: float, settings: Settings | None = None) -> None:
    MIDDLEWARE_OVERHEAD.labels(*fleet_labels(settings), job).observe(max(seconds, 0.0))


def observe_queue_wait(queue: str, seconds: float, settings: Settings | None = None) -> None:
    QUEUE_WAIT.labels(*fleet_labels(settings), queue).observe(max(seconds, 0.0))


def seed_last_success(times: Mapping[str, float], settings: Settings | None = None) -> None:
    """Start from what job_runs remembers, so a restart does not look like a missed schedule."""
    base = fleet_labels(settings)
    for job, stamp in times.items():
        LAST_SUCCESS.labels(*base, job).set(stamp)


def record_verification(result: str, settings: Settings | None = None) -> None:
    """Count one finished migration verification run (success, failure or refused)."""
    if result not in ("success", "failure", "refused"):
        raise ValueError(f"unknown verification result {result!r}")
    MIGRATION_VERIFICATIONS.labels(*fleet_labels(settings), result).inc()


ANALYTICS_OUTCOMES = frozenset({"written", "duplicate", "refused", "error"})


def record_analytics_event(outcome: str, settings: Settings | None = None) -> None:
    """Count one migration analytics event by what became of it."""
    if outcome not in ANALYTICS_OUTCOMES:
        raise ValueError(f"unknown analytics outcome {outcome!r}")
    MIGRATION_ANALYTICS_EVENTS.labels(*fleet_labels(settings), outcome).inc()


ARTIFACT_STEPS = frozenset({"soft_deleted", "moved", "purged"})
RESTORE_REFUSAL_REASONS = frozenset(
    {"hash_mismatch", "purged", "missing", "not_deleted", "not_found"}
)


def record_artifact_lifecycle(step: str, count: int, settings: Settings | None = None) -> None:
    """Count artifacts that went through one lifecycle step."""
    if step not in ARTIFACT_STEPS:
        raise ValueError(f"unknown artifact lifecycle step {step!r}")
    if count:
        ARTIFACT_LIFECYCLE.labels(*fleet_labels(settings), step).inc(count)


def record_artifact_restore(
    outcome: str, reason: str | None = None, settings: Settings | None = None
) -> None:
    """Count one restore attempt; a refusal also by its reason."""
    if outcome not in ("restored", "verified", "refused"):
        raise ValueError(f"unknown restore outcome {outcome!r}")
    ARTIFACT_RESTORES.labels(*fleet_labels(settings), outcome).inc()
    if outcome == "refused":
        if reason not in RESTORE_REFUSAL_REASONS:
            raise ValueError(f"unknown restore refusal reason {reason!r}")
        ARTIFACT_RESTORE_REFUSALS.labels(*fleet_labels(settings), reason).inc()


@dataclass
class ExternalCall:
    """Handed out by `external_request`; mark a call failed that did not raise."""

    failed: bool = False

    def fail(self) -> None:
        self.failed = True

    def check_status(self, status_code: int) -> None:
        """Anything but 2xx/3xx is an error from the fleet's point of view."""
        if not 200 <= status_code < 400:
            self.failed = True


@contextmanager
def external_request(dependency: str, settings: Settings | None = None) -> Iterator[ExternalCall]:
    """Count one outgoing call: `error` if the block raises or calls `fail()`, else `success`.

    with external_request("webhook") as call:
        response = http.post(url, json=body, timeout=10)
        call.check_status(response.status_code)
    """
    if dependency not in DEPENDENCIES:
        raise ValueError(f"unknown dependency {dependency!r}; add it to DEPENDENCIES")
    call = ExternalCall()
    try:
        yield call
    except BaseException:
        EXTERNAL_REQUESTS.labels(*fleet_labels(settings), dependency, "error").inc()
        raise
    status = "error" if call.failed else "success"
    EXTERNAL_REQUESTS.labels(*fleet_labels(settings), dependency, status).inc()


class SampledStateCollector(Collector):
    """Queue depth and dead letters, read from Redis when Prometheus scrapes.

    Sampling at scrape time means the value is never older than the scrape; a source
    that fails is left out of that scrape (no series beats a stale one).
    """

    def __init__(
        self,
        settings: Settings,
        queue_depths: Callable[[], Mapping[str, int]],
        dead_letters: Callable[[], Mapping[str, int]] | None = None,
        missing_tasks: Callable[[], int] | None = None,
    ) -> None:
        self.settings = settings
        self.queue_depths = queue_depths
        self.dead_letters = dead_letters
        self.missing_tasks = missing_tasks

    def _family(self, name: str, help_text: str, subject: str) -> GaugeMetricFamily:
        return GaugeMetricFamily(name, help_text, labels=[*FLEET_LABELS, subject])

    def collect(self) -> Iterable[Any]:
        base = list(fleet_labels(self.settings))
        depth = self._family(QUEUE_DEPTH_NAME, QUEUE_DEPTH_HELP, "queue")
        for queue, value in _safely(self.queue_depths).items():
            depth.add_metric([*base, queue], float(value))
        yield depth
        if self.dead_letters is not None:
            dead = self._family(DEAD_LETTERS_NAME, DEAD_LETTERS_HELP, "job")
            for job, value in _safely(self.dead_letters).items():
                dead.add_metric([*base, job], float(value))
            yield dead
        if self.missing_tasks is not None:
            missing = _safely(lambda: {"": self.missing_tasks() if self.missing_tasks else 0})
            if missing:
                lost = GaugeMetricFamily(
                    TASKS_MISSING_NAME, TASKS_MISSING_HELP, labels=FLEET_LABELS
                )
                lost.add_metric(base, float(missing[""]))
                yield lost

    def describe(self) -> Iterable[Any]:
        return []


def _safely(source: Callable[[], Mapping[str, int]]) -> Mapping[str, int]:
    try:
        return source()
    except Exception:  # a scrape must never fail because Redis blinked
        import structlog

        structlog.get_logger(__name__).warning("metrics_sample_failed", source=repr(source))
        return {}
