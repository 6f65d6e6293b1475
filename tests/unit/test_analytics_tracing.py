"""Trace context on messages, sampling that keeps failed traces, bucket percentiles, the switch."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Status, StatusCode

from sheen.analytics.rollup import bucket_range, quantile
from sheen.analytics.trace_context import (
    continued,
    current_trace_id,
    stamp_headers,
    sync_trace_id,
    trace_id_from,
)
from sheen.analytics.tracing import KeepFailedTraces, RecordDropped, RedactingExporter
from sheen.settings import parse_settings


def test_producer_headers_carry_a_w3c_traceparent_and_its_trace_id():
    """No span: a new root (sampled per ratio); a current span: its trace; a retry keeps its own."""
    # Given / When headers stamped without a span, at ratio 1 and 0
    sampled, unsampled = {}, {}
    stamp_headers(sampled, 1.0)
    stamp_headers(unsampled, 0.0)
    # Then each has a traceparent whose trace id is its trace_id header, and a request id
    for headers, flag in ((sampled, "01"), (unsampled, "00")):
        assert headers["traceparent"].endswith(f"-{flag}")
        assert headers["trace_id"] == trace_id_from(headers) == headers["traceparent"][3:35]
        assert len(headers["request_id"]) == 32
    # When inside a producer span
    tracer = TracerProvider().get_tracer("t")
    with tracer.start_as_current_span("request") as span:
        inside = {"request_id": "req-1"}
        stamp_headers(inside, 0.0)
    # Then the span's trace is propagated and the given request id kept
    assert inside["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert inside["request_id"] == "req-1"
    # When a retry republishes the headers; Then nothing changes
    again = dict(inside)
    stamp_headers(again, 1.0)
    assert again == inside
    # When the instrumentation replaced traceparent after us; Then trace_id follows it
    replaced = {**inside, "traceparent": sampled["traceparent"]}
    sync_trace_id(headers=replaced)
    assert replaced["trace_id"] == sampled["trace_id"]


def test_an_uninstrumented_task_runs_in_its_producers_trace():
    """No instrumentation span (no exporter): the message's traceparent is the current
    context for the run, so what the task publishes stays in the producer's trace."""
    # Given a message stamped by a producer
    message: dict[str, str] = {}
    stamp_headers(message, 0.0)
    assert current_trace_id() is None
    # When the task runs in it and publishes a child
    with continued(message):
        seen = current_trace_id()
        child: dict[str, str] = {}
        stamp_headers(child, 1.0)
    # Then both carry the producer's trace id, and the context is left as it was
    assert seen == message["trace_id"] == child["trace_id"]
    assert current_trace_id() is None
    # When a message has no traceparent; Then nothing is attached
    with continued({}):
        assert current_trace_id() is None


def _provider(ratio: float) -> tuple[TracerProvider, InMemorySpanExporter]:
    exported = InMemorySpanExporter()
    kept = SimpleSpanProcessor(RedactingExporter(exported))
    provider = TracerProvider(sampler=RecordDropped(ParentBased(TraceIdRatioBased(ratio))))
    provider.add_span_processor(kept)
    provider.add_span_processor(KeepFailedTraces(kept))
    return provider, exported


def test_sampled_out_traces_are_exported_only_when_a_span_failed():
    """Ratio 0: a successful trace exports nothing, a failed one exports all its spans, masked."""
    # Given a provider that samples nothing
    provider, exported = _provider(0.0)
    tracer = provider.get_tracer("t")
    # When one trace succeeds and one fails (its message names an email address)
    with tracer.start_as_current_span("ok-root"), tracer.start_as_current_span("ok-child"):
        pass
    with tracer.start_as_current_span("bad-root") as root:
        with tracer.start_as_current_span("bad-child"):
            pass
        root.set_status(Status(StatusCode.ERROR, "failed for ana@example.com"))
    # Then only the failed trace is exported, whole, sampled, without the address
    spans = exported.get_finished_spans()
    assert sorted(s.name for s in spans) == ["bad-child", "bad-root"]
    assert all(s.context.trace_flags.sampled for s in spans)
    bad_root = next(s for s in spans if s.name == "bad-root")
    assert bad_root.status.description == "failed for [email]"


def test_sampled_traces_are_exported_once():
    """Ratio 1: every span is exported by the batch path, never a second time by the keeper."""
    provider, exported = _provider(1.0)
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("root") as root:
        root.set_status(Status(StatusCode.ERROR))
    assert [s.name for s in exported.get_finished_spans()] == ["root"]


def test_bucket_percentiles_stay_within_five_percent():
    """A percentile read from the 5 %-wide buckets is within 5 % of the exact one."""
    import math

    values = [0.5 + i * 0.37 for i in range(1000)]
    histogram: dict[int, int] = {}
    for v in values:
        b = math.floor(math.log(v / 0.001) / math.log(1.05))
        lower, upper = bucket_range(b)
        assert lower <= v < upper
        histogram[b] = histogram.get(b, 0) + 1
    exact_p95 = sorted(values)[949]
    assert abs(quantile(histogram, 0.95) - exact_p95) / exact_p95 < 0.05
    assert quantile({}, 0.5) is None


def test_emission_switch_reads_both_names():
    """SHEEN_ANALYTICS_EMIT wins; ANALYTICS_EMIT (the operators' name) is read too; default on."""
    assert parse_settings({}).analytics_emit is True
    assert parse_settings({"ANALYTICS_EMIT": "off"}).analytics_emit is False
    assert parse_settings({"ANALYTICS_EMIT": "off", "SHEEN_ANALYTICS_EMIT": "on"}).analytics_emit
