"""W3C trace context on messages, with the OpenTelemetry API only (cheap to import).

The SDK set-up (sampling, export) is sheen.analytics.tracing; this module is what every
producer and RunContext need: the current trace id, a message's trace id, and the
headers a producer stamps (`traceparent`, `trace_id`, `request_id`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

W3C = TraceContextTextMapPropagator()


def trace_id_hex(span_context: SpanContext) -> str | None:
    return format(span_context.trace_id, "032x") if span_context.is_valid else None


def current_trace_id() -> str | None:
    """The W3C trace id of the current span (the task's, in a worker), or None."""
    return trace_id_hex(trace.get_current_span().get_span_context())


def _message_context(headers: Mapping[str, Any] | None) -> otel_context.Context | None:
    """The W3C context of a message's `traceparent` header, or None when it has none."""
    if not headers or not headers.get("traceparent"):
        return None
    return W3C.extract({"traceparent": str(headers["traceparent"])})


def trace_id_from(headers: Mapping[str, Any] | None) -> str | None:
    """The trace id of a message's `traceparent` header (W3C propagator), or None."""
    context = _message_context(headers)
    if context is None:
        return None
    return trace_id_hex(trace.get_current_span(context).get_span_context())


def _root_context(sample_ratio: float) -> otel_context.Context:
    """A new root span context whose sampled flag is the head decision for its trace id."""
    from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
    from opentelemetry.sdk.trace.sampling import TraceIdRatioBased

    ids = RandomIdGenerator()
    trace_id = ids.generate_trace_id()
    decision = TraceIdRatioBased(sample_ratio).should_sample(None, trace_id, "publish")
    flags = TraceFlags(TraceFlags.SAMPLED if decision.decision.is_sampled() else 0)
    span = NonRecordingSpan(SpanContext(trace_id, ids.generate_span_id(), False, flags))
    return trace.set_span_in_context(span)


def stamp_headers(headers: MutableMapping[str, Any], sample_ratio: float) -> None:
    """Producer side: traceparent (kept when already there: a retry keeps its trace),
    trace_id = its W3C trace id, and a request_id when the producer gave none."""
    if not headers.get("traceparent"):
        current = trace.get_current_span().get_span_context()
        ctx = None if current.is_valid else _root_context(sample_ratio)
        W3C.inject(headers, context=ctx)
    headers["trace_id"] = trace_id_from(headers) or headers.get("trace_id") or uuid.uuid4().hex
    if not headers.get("request_id"):
        headers["request_id"] = uuid.uuid4().hex


def sync_trace_id(headers: MutableMapping[str, Any] | None = None, **_: Any) -> None:
    """After the instrumentation's publish span replaced traceparent: trace_id follows it."""
    if headers:
        found = trace_id_from(headers)
        if found:
            headers["trace_id"] = found


@contextmanager
def continued(headers: Mapping[str, Any] | None) -> Iterator[None]:
    """Worker side, when no instrumentation span is current: the message's W3C context is,
    for the run, so what the task publishes stays in its producer's trace."""
    context = _message_context(headers)
    if context is None or trace.get_current_span().get_span_context().is_valid:
        yield
        return
    token = otel_context.attach(context)
    try:
        yield
    finally:
        otel_context.detach(token)
