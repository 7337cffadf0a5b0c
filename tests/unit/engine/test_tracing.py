"""Step-attempt spans (``engine.runtime.tracing``) and the run's record of its trace, on the
SDK's in-memory exporter: the parent comes from the call (the run's Started event), never from
the context of the thread that runs the attempt."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from domain.runs.run import Run
from engine.runtime.tracing import SPAN_NAME, attempt_span, traced
from engine.steps import Failed, StartChild, StepCall, Succeeded

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer(exporter: InMemorySpanExporter):  # type: ignore[no-untyped-def]
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider.get_tracer("test")


def call(traceparent: str | None = PARENT, uses: str = "http") -> StepCall:
    return StepCall(
        run_id=uuid.uuid4(), tenant_id="t1", workflow_id="wf", step_id="fetch", index=2,
        attempt=3, uses=uses, input={}, timeout_s=None, started_by="u1",
        now=datetime(2026, 1, 1, tzinfo=UTC), traceparent=traceparent,
    )  # fmt: skip


def test_an_attempt_span_is_a_child_of_the_span_that_started_its_run(tracer, exporter) -> None:
    c = call()
    with attempt_span(tracer, c) as span:
        traced(span, Succeeded({"ok": True}))
    [found] = exporter.get_finished_spans()
    assert found.name == SPAN_NAME
    assert found.kind is SpanKind.INTERNAL
    assert found.context.trace_id == 0x0AF7651916CD43DD8448EB211C80319C
    assert found.parent is not None
    assert (found.parent.span_id, found.parent.is_remote) == (0xB7AD6B7169203331, True)
    assert found.attributes == {
        "platinum.tenant_id": "t1", "platinum.workflow_id": "wf", "platinum.run_id": str(c.run_id),
        "platinum.step.id": "fetch", "platinum.step.index": 2, "platinum.step.attempt": 3,
        "platinum.step.kind": "http", "platinum.step.outcome": "succeeded",
    }  # fmt: skip


def test_an_untraced_run_gets_a_trace_of_its_own_whatever_span_is_current(tracer, exporter) -> None:
    with tracer.start_as_current_span("unrelated"), attempt_span(tracer, call(None)):
        pass
    attempt, unrelated = exporter.get_finished_spans()
    assert attempt.parent is None
    assert attempt.context.trace_id != unrelated.context.trace_id


def test_a_failed_attempt_marks_its_span_as_an_error(tracer, exporter) -> None:
    with attempt_span(tracer, call()) as span:
        traced(span, Failed("http_status", "GET x: status 503", True))
    [found] = exporter.get_finished_spans()
    assert found.status.status_code is StatusCode.ERROR
    assert found.attributes["error.type"] == "http_status"
    assert found.attributes["platinum.step.retryable"] is True


def test_a_child_run_to_start_is_given_the_attempt_as_its_trace_parent(tracer, exporter) -> None:
    spec = StartChild("wf2", 1, {"steps": []}, None, None)
    with attempt_span(tracer, call(uses="workflow:child")) as span:
        out = traced(span, spec)
    [found] = exporter.get_finished_spans()
    assert isinstance(out, StartChild)
    c = found.context
    assert out.traceparent == f"00-{c.trace_id:032x}-{c.span_id:016x}-{int(c.trace_flags):02x}"


def start(traceparent: str | None) -> Run:
    return Run.start(
        tenant_id="t1", workflow_id="wf", workflow_version=1, definition_hash="h",
        step_ids=["a"], input=None, started_by="u1", traceparent=traceparent,
    )  # fmt: skip


def test_a_run_records_the_traceparent_it_was_started_under() -> None:
    run = start(PARENT)
    [event] = run.collect_events()
    assert event.traceparent == PARENT
    assert run.traceparent == PARENT


@pytest.mark.parametrize("bad", ["", "00-xyz", PARENT.upper(), PARENT + "-00", 42])
def test_a_malformed_traceparent_is_not_recorded_and_the_run_starts_anyway(bad) -> None:
    run = start(bad)
    [event] = run.collect_events()
    assert event.traceparent is None
    assert run.traceparent is None
