"""OpenTelemetry for the fleet: W3C trace context from producer to worker, sampled export.

- Producer: every published message carries a W3C `traceparent` (the current span's, or
  a new root when there is none) and a `request_id`; its `trace_id` header is the W3C
  trace id, so logs, job_runs and events agree (`stamp_headers`, called from
  workers/signals.py). opentelemetry-instrumentation-celery adds its publish span when
  the process set tracing up.
- Worker (each pool process, `setup_tracing`): with an exporter, the instrumentation's
  task span has the producer's span as parent; `current_trace_id()` is what RunContext
  records. Without one (no SHEEN_OTLP_ENDPOINT) nothing would ever be exported, so the
  Celery instrumentation is not installed (its spans made a fleet.ping call 566 instead
  of 321 us of CPU, docs/benchmarks.md): the task runs in the producer's context instead
  (`trace_context.continued`), so its logs, rows and the messages it publishes carry the
  same trace id.
- Sampling: the head decision is ParentBased(TraceIdRatioBased(SHEEN_TRACE_SAMPLE_RATIO)),
  so a trace is kept or dropped as a whole. Spans the ratio drops are still *recorded*
  (`RecordDropped`: RECORD_ONLY instead of DROP) and held per trace until their local root
  ends; if any span of it failed (status ERROR: the instrumentation marks a task that
  raised), `KeepFailedTraces` exports them all. Every failed task's spans are kept; the
  trace id is on its events and job_runs row whatever the sampler said.
- Export: OTLP over HTTP only when SHEEN_OTLP_ENDPOINT is set; otherwise spans end in
  memory and nothing is sent. Exported spans pass through `redact` (no email or IP in
  exception messages or attributes).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import SpanContext, StatusCode, TraceFlags
from opentelemetry.trace.status import Status

from sheen.analytics.trace_context import sync_trace_id
from sheen.logging import redact
from sheen.settings import Settings

MAX_HELD_TRACES = 512
MAX_HELD_SPANS = 256
_state: dict[str, Any] = {"pid": None, "provider": None}
_lock = threading.Lock()


class RecordDropped(Sampler):
    """The inner sampler's decision, except that DROP becomes RECORD_ONLY (not exported
    by the batch processor, but seen by KeepFailedTraces)."""

    def __init__(self, inner: Sampler) -> None:
        self.inner = inner

    def should_sample(self, *args: Any, **kwargs: Any) -> SamplingResult:
        result = self.inner.should_sample(*args, **kwargs)
        if result.decision is Decision.DROP:
            return SamplingResult(Decision.RECORD_ONLY, result.attributes, result.trace_state)
        return result

    def get_description(self) -> str:
        return f"RecordDropped{{{self.inner.get_description()}}}"


def _copy(span: ReadableSpan, sampled: bool | None = None) -> ReadableSpan:
    """`span` with personal data masked (and marked sampled when it is kept)."""
    ctx = span.context
    if ctx is not None and sampled:
        ctx = SpanContext(ctx.trace_id, ctx.span_id, ctx.is_remote, TraceFlags(TraceFlags.SAMPLED),
                          ctx.trace_state)  # fmt: skip
    status = span.status
    if status.description:
        status = Status(status.status_code, redact(status.description))
    events = [Event(e.name, redact(dict(e.attributes or {})), e.timestamp) for e in span.events]
    return ReadableSpan(
        name=span.name, context=ctx, parent=span.parent, resource=span.resource,
        attributes=redact(dict(span.attributes or {})), events=events, links=span.links,
        kind=span.kind, status=status, start_time=span.start_time, end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )  # fmt: skip


class RedactingExporter(SpanExporter):
    """Masks emails and IPs in attributes, events and status before the real exporter."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.inner.export([_copy(s) for s in spans])

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


class KeepFailedTraces(SpanProcessor):
    """Hold the spans the sampler dropped, per trace, until their local root ends; export
    them (through `kept`, marked sampled) when any of them failed, else forget them."""

    def __init__(self, kept: SpanProcessor) -> None:
        self.kept = kept
        self.held: OrderedDict[int, list[ReadableSpan]] = OrderedDict()
        self.failed: set[int] = set()
        self.lock = threading.Lock()

    def on_end(self, span: ReadableSpan) -> None:
        ctx = span.context
        if ctx is None or ctx.trace_flags.sampled:
            return  # the batch processor exports it
        root = span.parent is None or span.parent.is_remote
        with self.lock:
            spans = self.held.setdefault(ctx.trace_id, [])
            if len(spans) < MAX_HELD_SPANS:
                spans.append(span)
            if span.status.status_code is StatusCode.ERROR:
                self.failed.add(ctx.trace_id)
            if not root:
                while len(self.held) > MAX_HELD_TRACES:
                    dropped, _ = self.held.popitem(last=False)
                    self.failed.discard(dropped)
                return
            spans = self.held.pop(ctx.trace_id, [])
            keep = ctx.trace_id in self.failed
            self.failed.discard(ctx.trace_id)
        if keep:
            for held in spans:
                self.kept.on_end(_copy(held, sampled=True))

    def shutdown(self) -> None:
        self.kept.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.kept.force_flush(timeout_millis)


def build_provider(settings: Settings, exporter: SpanExporter | None = None) -> TracerProvider:
    """The process's tracer provider: ratio head sampling, failed traces kept, OTLP export
    only when SHEEN_OTLP_ENDPOINT is set (or an exporter is given)."""
    resource = Resource.create(
        {
            "service.name": settings.service_name,
            "deployment.environment": settings.env.value,
            "cloud.region": settings.region,
        }
    )
    sampler = RecordDropped(ParentBased(TraceIdRatioBased(settings.trace_sample_ratio)))
    provider = TracerProvider(resource=resource, sampler=sampler)
    if exporter is None and settings.otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = settings.otlp_endpoint.rstrip("/")
        if not endpoint.endswith("/v1/traces"):
            endpoint += "/v1/traces"
        exporter = OTLPSpanExporter(endpoint=endpoint)
    if exporter is not None:
        batch = BatchSpanProcessor(RedactingExporter(exporter))
        provider.add_span_processor(batch)
        provider.add_span_processor(KeepFailedTraces(batch))
    return provider


def setup_tracing(settings: Settings) -> TracerProvider:
    """Once per process (again after a fork): the provider and the Celery instrumentation."""
    from celery import signals
    from opentelemetry.instrumentation.celery import CeleryInstrumentor

    with _lock:
        if _state["pid"] == os.getpid():
            return _state["provider"]
        provider = build_provider(settings)
        if _state["pid"] is None:  # the global one can be set once; a forked child has its own
            trace.set_tracer_provider(provider)
        instrumentor = CeleryInstrumentor()
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()
        signals.before_task_publish.disconnect(sync_trace_id)
        if settings.otlp_endpoint:  # spans only matter when something exports them
            instrumentor.instrument(tracer_provider=provider)
            signals.before_task_publish.connect(sync_trace_id, weak=False)
        _state.update(pid=os.getpid(), provider=provider)
        return provider


def shutdown_tracing() -> None:
    """Flush what is waiting for export (a worker process about to exit)."""
    provider = _state.get("provider")
    if provider is not None:
        provider.shutdown()
