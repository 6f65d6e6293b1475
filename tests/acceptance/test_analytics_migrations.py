"""migration.run on real workers: the five events, trace context from the producer (on
events, job_runs and exported spans, across retries), the roll-up, and the off switch."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy import text

from sheen.analytics.events import events_for_task
from sheen.analytics.rollup import rollup
from sheen.services.job_runs import runs_for_task
from tests.sidecar_support import clean_broker

WORKER_ENV = {
    "SHEEN_RETRY_BACKOFF_SECONDS": "0.05",
    "SHEEN_TRACE_SAMPLE_RATIO": "0",  # only sampled parents and failed traces are exported
    "OTEL_BSP_SCHEDULE_DELAY": "100",
}


class OtlpReceiver:
    """A real OTLP/HTTP endpoint: decodes ExportTraceServiceRequest bodies, keeps the spans."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportTraceServiceRequest.FromString(body)
                for rs in request.resource_spans:
                    for ss in rs.scope_spans:
                        for span in ss.spans:
                            receiver.spans.append(
                                {"trace_id": span.trace_id.hex(), "name": span.name,
                                 "status": span.status.code, "status_message": span.status.message}
                            )  # fmt: skip
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def names_for(self, trace_id: str) -> list[str]:
        return [s["name"] for s in self.spans if s["trace_id"] == trace_id]


@pytest.fixture
def otlp() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver()
    yield receiver
    receiver.server.shutdown()


def _user(db) -> uuid.UUID:
    uid = uuid.uuid4()
    with db.begin() as conn:
        conn.execute(text("INSERT INTO auth.users (id) VALUES (:id)"), {"id": uid})
    return uid


def _wait_for(predicate, timeout: float = 45.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _outcome(db, task_id: str) -> list[dict[str, Any]]:
    events = events_for_task(db, task_id)
    return events if any(e["event_type"] in ("completed", "failed") for e in events) else []


def _migrate(celery_app, uid, request_id: str, **payload: Any) -> str:
    kwargs = {"migration_id": str(uuid.uuid4()), "user_id": str(uid),
              "source_url": "https://old.example/site", "step_seconds": 0.02, **payload}  # fmt: skip
    sent = celery_app.send_task("migration.run", kwargs=kwargs, headers={"request_id": request_id})
    return str(sent.id)


def test_retries_success_and_permanent_failure_emit_exactly_the_expected_events(
    db, services, start_worker, celery_app, otlp
):
    """Two transient failures then success, and a permanent failure: exact events, the
    producer's trace and request ids everywhere, spans exported, a matching roll-up."""
    # Given a worker exporting spans, and a producer span the migrations start under
    clean_broker(services)
    worker = start_worker(concurrency=2, SHEEN_OTLP_ENDPOINT=otlp.url, **WORKER_ENV)
    uid = _user(db)
    tracer = TracerProvider().get_tracer("producer")
    with tracer.start_as_current_span("POST /migrations") as span:
        producer_trace = format(span.get_span_context().trace_id, "032x")
        flaky = _migrate(celery_app, uid, "req-flaky-1", fail_step="deploy", fail_times=2,
                         ai_seconds=7.5)  # fmt: skip
        broken = _migrate(celery_app, uid, "req-broken-1", fail_step="rewrite_assets",
                          fail_mode="permanent")  # fmt: skip
    # When both have ended
    flaky_events = _wait_for(lambda: _outcome(db, flaky), what="flaky outcome")
    broken_events = _wait_for(lambda: _outcome(db, broken), what="broken outcome")
    # Then the flaky one: started once, steps per attempt, two retries at deploy, completed
    shape = [(e["event_type"], e["attempt"], e["step"]) for e in flaky_events]
    assert sorted(shape) == sorted([
        ("started", 1, ""),
        ("step_completed", 1, "fetch_site"), ("step_completed", 1, "rewrite_assets"),
        ("retry", 1, "deploy"),
        ("step_completed", 2, "fetch_site"), ("step_completed", 2, "rewrite_assets"),
        ("retry", 2, "deploy"),
        ("step_completed", 3, "fetch_site"), ("step_completed", 3, "rewrite_assets"),
        ("step_completed", 3, "deploy"), ("completed", 3, ""),
    ])  # fmt: skip
    assert all(e["duration_seconds"] > 0 for e in flaky_events if e["event_type"] != "started")
    retries = [e for e in flaky_events if e["event_type"] == "retry"]
    assert {e["error_class"] for e in retries} == {"TransientError"}
    completed = next(e for e in flaky_events if e["event_type"] == "completed")
    assert completed["ai_seconds"] == 3 * 7.5  # every attempt's rewrite step
    # ... the broken one: started, the first step, failed at rewrite_assets (class, no message)
    assert [(e["event_type"], e["step"]) for e in broken_events] == [
        ("started", ""), ("step_completed", "fetch_site"), ("failed", "rewrite_assets"),
    ]  # fmt: skip
    failed = broken_events[-1]
    assert failed["error_class"] == "MigrationStepFailed"
    assert failed["metadata"]["reason"] == "permanent"
    assert "drill" not in str(failed)  # the message is never stored
    # ... every event, and every job_runs row, carries the producer's trace and request id
    for task_id, request_id, events in ((flaky, "req-flaky-1", flaky_events),
                                        (broken, "req-broken-1", broken_events)):  # fmt: skip
        assert {(e["trace_id"], e["request_id"]) for e in events} == {(producer_trace, request_id)}
        runs = runs_for_task(db, task_id)
        assert {(r["trace_id"], r["request_id"]) for r in runs} == {(producer_trace, request_id)}
    assert len(runs_for_task(db, flaky)) == 3
    # ... and so do the worker's log lines of the retries
    retry_lines = [line for line in worker.log().splitlines() if "job_retry" in line]
    assert len(retry_lines) == 2
    assert all("request_id=req-flaky-1" in line and producer_trace in line for line in retry_lines)
    # ... the worker exported the task spans of every attempt into the producer's trace
    names = _wait_for(
        lambda: (n := otlp.names_for(producer_trace)).count("run/migration.run") >= 4 and n,
        what="exported spans",
    )
    assert names.count("run/migration.run") == 4  # three attempts + the permanent failure
    # ... and the roll-up says the same
    found = rollup(db, user_id=uid)
    counts = found.overall.counts
    assert (counts.started, counts.step_completed, counts.retry) == (2, 8, 2)
    assert (counts.completed, counts.failed) == (1, 1)
    assert found.overall.success_pct == 50.0 and found.overall.retries_per_migration == 1.0
    assert found.failing_steps[0].step == "rewrite_assets" and found.failing_steps[0].failures == 1
    deploy = next(s for s in found.failing_steps if s.step == "deploy")
    assert deploy.retries == 2
    assert found.overall.duration_p50_seconds == pytest.approx(
        completed["duration_seconds"], rel=0.06
    )
    assert rollup(db).overall.counts == counts  # everyone (daily table) = the only user


def test_a_failed_task_keeps_its_trace_when_the_sampler_dropped_it(
    db, services, start_worker, celery_app, otlp
):
    """Unsampled traceparent: a success exports nothing, a failure exports its spans."""
    # Given a worker with sample ratio 0, and two messages whose traces were not sampled
    clean_broker(services)
    start_worker(concurrency=1, SHEEN_OTLP_ENDPOINT=otlp.url, **WORKER_ENV)
    uid = _user(db)
    fine_trace, bad_trace = uuid.uuid4().hex, uuid.uuid4().hex
    ids = {}
    for trace_id, payload in ((fine_trace, {}), (bad_trace, {"fail_step": "fetch_site",
                                                           "fail_mode": "permanent"})):  # fmt: skip
        kwargs = {"migration_id": str(uuid.uuid4()), "user_id": str(uid),
                  "source_url": "https://old.example/", **payload}  # fmt: skip
        headers = {"traceparent": f"00-{trace_id}-{uuid.uuid4().hex[:16]}-00"}
        ids[trace_id] = celery_app.send_task("migration.run", kwargs=kwargs, headers=headers).id
    # When both have ended
    for task_id in ids.values():
        _wait_for(lambda t=task_id: _outcome(db, t), what="outcome")
    # Then the failed trace's task span was exported (status ERROR), the successful one's not
    spans = _wait_for(lambda: otlp.names_for(bad_trace), what="kept failed trace")
    assert "run/migration.run" in spans
    time.sleep(0.5)  # one more export interval for anything of the successful trace
    assert otlp.names_for(fine_trace) == []
    assert {e["trace_id"] for e in events_for_task(db, ids[fine_trace])} == {fine_trace}


def test_analytics_emit_off_writes_no_event(db, services, start_worker, celery_app):
    """ANALYTICS_EMIT=off (the operators' name): the migration runs and records no event."""
    # Given a worker with emission off
    clean_broker(services)
    start_worker(concurrency=1, ANALYTICS_EMIT="off", SHEEN_RETRY_BACKOFF_SECONDS="0.05")
    uid = _user(db)
    # When a migration with one transient failure runs to success
    task_id = _migrate(celery_app, uid, "req-off-1", fail_step="fetch_site", fail_times=1)
    _wait_for(
        lambda: [r for r in runs_for_task(db, task_id) if r["status"] == "success"],
        what="successful run",
    )
    # Then the runs are recorded, with their trace id, and no analytics event exists
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM migration_analytics_events")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM migration_analytics_daily")).scalar() == 0
    assert [r["status"] for r in runs_for_task(db, task_id)] == ["retry", "success"]


def test_the_verify_step_enqueues_migration_verify_once_per_migration(
    db, services, start_worker, celery_app
):
    """With a manifest, the last step enqueues migration.verify under the migration's key."""
    # Given a worker and a migration whose payload carries a (bogus) manifest to verify
    clean_broker(services)
    start_worker(concurrency=1)
    uid = _user(db)
    task_id = _migrate(celery_app, uid, "req-verify-1",
                       verify={"manifest": "{}", "environment": "ci"})  # fmt: skip
    # When it has ended and the verification task has run
    events = _wait_for(lambda: _outcome(db, task_id), what="migration outcome")
    verify_runs = _wait_for(
        lambda: [r for r in _job_runs(db, "migration.verify") if r["status"] != "running"],
        what="migration.verify run",
    )
    # Then the verify step completed and one migration.verify ran under the migration's key
    assert ("step_completed", "verify") in [(e["event_type"], e["step"]) for e in events]
    migration_id = events[0]["migration_id"]
    assert [r["idempotency_key"] for r in verify_runs] == [f"migration-verify:{migration_id}"]


def _job_runs(db, job: str) -> list[dict[str, Any]]:
    with db.connect() as conn:
        rows = conn.execute(text("SELECT * FROM job_runs WHERE job = :j ORDER BY id"), {"j": job})
        return [dict(r._mapping) for r in rows]
