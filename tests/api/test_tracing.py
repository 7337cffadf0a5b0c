"""Tracing (docs/observability.md) on PostgreSQL: one trace from the API request through the
run's start and the worker's step attempt to the ``http`` call and its target; off, no tracer
provider and no ``traceparent`` header.

The API and the worker each get their own container and tracer provider, as two processes
would; the worker starts only after the request has answered, so the attempt's parent can come
from nothing but the run's ``Started`` event.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from tests.factories import TenantCtx, active_workflow
from tests.integration.engine.support import LocalServer
from tests.support.polling import wait_until

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def target() -> Iterator[LocalServer]:
    """An HTTP target on 127.0.0.1 that records the headers of every request it gets."""
    with LocalServer() as server:
        yield server


def http_workflow(client: Any, tenant: TenantCtx, url: str) -> str:
    step = {"id": "call", "uses": "http", "with": {"url": url, "method": "POST"}}
    definition = {"name": "traced", "steps": [step]}
    return active_workflow(client, tenant.admin.headers, definition)


def start_worker(container: Any) -> Any:
    from api.background import start_worker
    from engine.runtime.worker import WorkerConfig

    return start_worker(container, WorkerConfig(concurrency=2, lease_s=5.0))


def stop_worker(container: Any, worker: Any) -> None:
    worker.stop()
    container.background.remove(worker)


def succeeded(container: Any, run_id: str) -> Any:
    run = wait_until(lambda: container.runs.load(UUID(run_id)), 30,
                     until=lambda r: r.is_done, message=f"run {run_id} to end")  # fmt: skip
    assert run.status == "succeeded", run.steps
    return run


def traceparent_of(span: ReadableSpan) -> str:
    c = span.context
    return f"00-{c.trace_id:032x}-{c.span_id:016x}-{int(c.trace_flags):02x}"


def parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def one(spans: list[ReadableSpan], name: str, kind: SpanKind) -> ReadableSpan:
    found = [s for s in spans if s.name == name and s.kind is kind]
    assert len(found) == 1, [(s.name, s.kind) for s in spans]
    return found[0]


@pytest.fixture
def process(settings, db) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    """``process(role)``: a container traced to an in-memory exporter of its own (one process);
    ``role`` None: the API's."""
    from api.composition import Container
    from api.telemetry import build

    made: list[Any] = []

    def make(role: Any = None) -> tuple[Any, InMemorySpanExporter]:
        exporter = InMemorySpanExporter()
        made.append(Container.build(settings, db, role=role,
                                    telemetry=build(settings, exporter=exporter)))  # fmt: skip
        return made[-1], exporter

    yield make
    for c in made:
        c.close()


def test_one_trace_goes_from_the_request_to_the_http_call_and_its_target(
    client, container, process, tenant, target, db
) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app

    wf = http_workflow(client, tenant, target.url("/traced?api_key=s3cret"))
    api, api_spans = process()
    # the API process starts the run and answers, no worker running anywhere
    with TestClient(create_app(api)) as traced_client:
        assert traced_client.get("/healthz").status_code == 200  # probes make no span
        r = traced_client.post(f"/v1/workflows/{wf}/runs", json={"input": {}},
                               headers=tenant.admin.headers)  # fmt: skip
    assert r.status_code == 202, r.text
    run_id = r.json()["id"]
    spans = list(api_spans.get_finished_spans())
    assert [s.name for s in spans] == ["run.start", "POST /v1/workflows/{workflow_id}/runs"]
    request = one(spans, "POST /v1/workflows/{workflow_id}/runs", SpanKind.SERVER)
    start = one(spans, "run.start", SpanKind.INTERNAL)
    assert parent_id(start) == request.context.span_id
    assert start.attributes["platinum.run_id"] == run_id
    # the run recorded the start span's context in its Started event
    run = container.runs.load(UUID(run_id))
    assert run.traceparent == traceparent_of(start)

    # another process, with a tracer provider of its own, runs the step
    worker_container, worker_spans = process(db.system)
    worker = start_worker(worker_container)
    try:
        done = succeeded(container, run_id)
    finally:
        stop_worker(worker_container, worker)
    assert done.steps["call"]["worker_id"] == worker.id  # not another test's worker
    trace_id = request.context.trace_id
    # the worker may also run a task another test of this database left behind (its own trace)
    every = list(worker_spans.get_finished_spans())
    spans = [s for s in every if s.context.trace_id == trace_id]
    assert [s for s in every if s not in spans
            and (s.attributes or {}).get("platinum.run_id") == run_id] == []  # fmt: skip
    attempt = one(spans, "step.attempt", SpanKind.INTERNAL)
    call = one(spans, "POST", SpanKind.CLIENT)
    assert attempt.context.trace_id == trace_id
    assert parent_id(attempt) == start.context.span_id
    assert attempt.attributes["platinum.run_id"] == run_id
    assert attempt.attributes["platinum.step.id"] == "call"
    assert call.context.trace_id == trace_id
    assert parent_id(call) == attempt.context.span_id
    # the target got the call's span as its parent: the trace goes on on its side
    [got] = target.recorder.headers_of("/traced")
    assert got["traceparent"] == traceparent_of(call)
    assert call.attributes is not None
    assert "s3cret" not in repr(dict(call.attributes))  # the URL without its query
    assert f"127.0.0.1:{target.httpd.server_address[1]}/traced" in repr(dict(call.attributes))
    # each process exported only its own spans
    assert not [s for s in api_spans.get_finished_spans() if s.name == "step.attempt"]


def test_with_tracing_off_no_provider_is_installed_and_no_traceparent_is_sent(
    client, container, tenant, target
) -> None:
    from engine.runtime.tracing import Tracing  # noqa: F401 - the engine imports the API alone
    from engine.steps.egress_clients import EgressBackend

    assert not container.settings.tracing
    assert container.telemetry is None
    assert not isinstance(trace.get_tracer_provider(), TracerProvider)
    wf = http_workflow(client, tenant, target.url("/untraced"))
    worker = start_worker(container)
    try:
        r = client.post(f"/v1/workflows/{wf}/runs", json={"input": {}},
                        headers=tenant.admin.headers)  # fmt: skip
        assert r.status_code == 202, r.text
        run = succeeded(container, r.json()["id"])
        # no span anywhere: the executor has no tracer, the client's transport is the guard's own
        assert worker.executor.tracer is None
        assert isinstance(worker.executor.ctx.http._transport._pool._network_backend, EgressBackend)
    finally:
        stop_worker(container, worker)
    assert run.traceparent is None
    [got] = target.recorder.headers_of("/untraced")
    assert "traceparent" not in got
