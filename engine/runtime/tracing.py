"""Step-attempt spans: the worker's part of a run's trace (the OpenTelemetry API only, no SDK).

The composition root hands a worker a ``Tracing`` when tracing is on; without one the executor
makes no span and calls nothing of OpenTelemetry. An attempt's span is a child of the span that
started its run, whose W3C ``traceparent`` the run recorded in its ``Started`` event
(``StepCall.traceparent``): the trace crosses processes through the run's events, never through
the worker's own context. A run without one (started untraced) gets a trace of its own per
attempt. docs/observability.md names the spans and their attributes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from engine.steps import Failed, Outcome, StartChild, StepCall, Succeeded

SPAN_NAME = "step.attempt"
W3C = TraceContextTextMapPropagator()

TransportWrapper = Callable[[Any], Any]
"""Wraps an ``httpx`` transport in the HTTP client instrumentation (a client span per call and
the ``traceparent`` header sent); it keeps the egress-guarded transport underneath."""


@dataclass(frozen=True)
class Tracing:
    """What a worker traces with: a tracer, and its HTTP clients' transport wrapper."""

    tracer: Tracer
    wrap_transport: TransportWrapper | None = None


def attributes(call: StepCall) -> dict[str, Any]:
    found: dict[str, Any] = {
        "platinum.tenant_id": call.tenant_id,
        "platinum.workflow_id": call.workflow_id,
        "platinum.run_id": str(call.run_id),
        "platinum.step.id": call.step_id,
        "platinum.step.attempt": call.attempt,
        "platinum.step.kind": call.uses,
    }
    if call.index is not None:
        found["platinum.step.index"] = call.index
    return found


@contextmanager
def attempt_span(tracer: Tracer, call: StepCall) -> Iterator[Span]:
    """The current span while ``call`` runs: a child of its run's start (or a new trace)."""
    parent = W3C.extract({"traceparent": call.traceparent} if call.traceparent else {})
    with tracer.start_as_current_span(
        SPAN_NAME, context=parent, kind=SpanKind.INTERNAL, attributes=attributes(call)
    ) as span:
        yield span


def traced(span: Span, outcome: Outcome | None) -> Outcome | None:
    """Record ``outcome`` on the attempt's span; a child run to start gets the span as its
    trace parent (its steps' spans then sit under this attempt)."""
    match outcome:
        case None:
            span.set_attribute("platinum.step.outcome", "dropped")
        case Succeeded():
            span.set_attribute("platinum.step.outcome", "succeeded")
        case Failed(kind=kind, message=message, retryable=retryable):
            span.set_attributes({"platinum.step.outcome": "failed", "error.type": kind,
                                 "platinum.step.retryable": retryable})  # fmt: skip
            span.set_status(Status(StatusCode.ERROR, message[:200]))
        case StartChild():
            span.set_attribute("platinum.step.outcome", "waiting")
            carrier: dict[str, str] = {}
            W3C.inject(carrier)
            return dataclasses.replace(outcome, traceparent=carrier.get("traceparent"))
        case _:
            span.set_attribute("platinum.step.outcome", "waiting")
    return outcome
