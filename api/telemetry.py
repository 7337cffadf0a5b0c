"""OpenTelemetry traces of a process: off unless configured; when on, the provider and its spans.

On when ``PLATINUM_OTEL=1`` or ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (``Settings.tracing``),
unless ``OTEL_SDK_DISABLED=true``. Then spans go by OTLP over HTTP to the collector the standard
``OTEL_EXPORTER_OTLP_*`` variables name (the exporter reads them); the request span comes from
the FastAPI instrumentation, ``run.start`` from :func:`traced_start`, the step attempts from the
worker (``engine.runtime.tracing``) and the ``http`` calls from the HTTPX instrumentation, which
wraps the worker's egress-guarded transport and sends ``traceparent``. Off, nothing here is
imported beyond this module and no span is made (docs/observability.md).

The SDK, the exporter and the instrumentations are the ``otel`` extra: imported only when on.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from opentelemetry.trace import SpanKind, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from engine.runtime.tracing import Tracing

if TYPE_CHECKING:
    from fastapi import FastAPI

    from api.settings import Settings

log = logging.getLogger(__name__)

SERVICE_NAME = "platinum"
RUN_START = "run.start"
EXCLUDED_URLS = "/healthz,/readyz,/metrics"
"""Probes and scrapes: no span (they would drown the traces that matter)."""
_W3C = TraceContextTextMapPropagator()


class TelemetryUnavailableError(RuntimeError):
    """Tracing is asked for, but the ``otel`` extra is not installed."""


@dataclass
class Telemetry:
    """A process's tracer provider (``opentelemetry.sdk.trace.TracerProvider``) and tracer."""

    provider: Any
    tracer: Tracer

    def engine(self) -> Tracing:
        """What a worker traces with: this tracer, and the HTTP client instrumentation."""
        return Tracing(self.tracer, self.wrap_transport)

    def wrap_transport(self, transport: Any) -> Any:
        """``transport`` (egress-guarded) inside the HTTPX instrumentation's transport: a
        client span per call, ``traceparent`` sent; connections still go through the guard."""
        from opentelemetry.instrumentation.httpx import SyncOpenTelemetryTransport

        return SyncOpenTelemetryTransport(
            transport, tracer_provider=self.provider, request_hook=scrub_url
        )

    def instrument(self, app: FastAPI) -> None:
        """A server span per request (outermost, so it times the whole request)."""
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(
            app, tracer_provider=self.provider, excluded_urls=EXCLUDED_URLS,
            exclude_spans=["receive", "send"],  # one span per request, not one per message
        )  # fmt: skip

    def shutdown(self) -> None:
        """Export what is buffered, then stop."""
        self.provider.shutdown()


URL_ATTRIBUTES = ("url.full", "http.url")
"""Where the HTTPX instrumentation puts a call's URL (new and old semantic conventions)."""


def scrub_url(span: Any, request: Any) -> None:
    """A call's URL on its span without query, fragment or credentials: a step's URL may carry
    a secret (``?api_key=...``) and spans leave the service for a collector."""
    recorded = getattr(span, "attributes", None) or {}
    url = request.url
    if not span.is_recording() or not hasattr(url, "netloc"):
        return
    shown = f"{url.scheme}://{url.netloc.decode()}{url.path}"
    for key in URL_ATTRIBUTES:
        if key in recorded:
            span.set_attribute(key, shown)


def build(settings: Settings, *, exporter: Any = None) -> Telemetry | None:
    """The process's telemetry, or None when tracing is off. ``exporter`` (tests: an in-memory
    one) is exported to synchronously and turns tracing on; by default spans go by OTLP in
    batches. The resource is ``service.name=platinum`` unless ``OTEL_SERVICE_NAME`` or
    ``OTEL_RESOURCE_ATTRIBUTES`` say otherwise (e.g. ``platinum.process=worker``)."""
    if exporter is None and not settings.tracing:
        return None
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    except ImportError as e:
        raise TelemetryUnavailableError(
            "tracing is on (PLATINUM_OTEL or OTEL_EXPORTER_OTLP_ENDPOINT) but OpenTelemetry's"
            f" SDK is not installed ({e}): install the package with its `otel` extra"
        ) from None
    found: dict[str, Any] = {}
    if not os.environ.get("OTEL_SERVICE_NAME"):
        found["service.name"] = SERVICE_NAME
    provider = TracerProvider(resource=Resource.create(found))
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or "the exporter's default"
        log.info("tracing on: spans exported by OTLP to %s", endpoint)
    else:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    return Telemetry(provider, provider.get_tracer("platinum"))


def install(telemetry: Telemetry) -> None:
    """Make ``telemetry`` the process's global tracer provider (what other libraries use)."""
    from opentelemetry import trace

    trace.set_tracer_provider(telemetry.provider)


class _Started(Protocol):
    @property
    def run(self) -> Any: ...
    @property
    def replayed(self) -> bool: ...


C = TypeVar("C")
S = TypeVar("S", bound=_Started)


def traced_start(telemetry: Telemetry | None, start: Callable[[C], S], cmd: C) -> S:
    """``start(cmd)`` (a ``StartRun`` or a ``RerunRun``) inside a ``run.start`` span, a child of
    the request's when there is one. The command carries the span's ``traceparent`` into the
    run's ``Started`` event: that is how the worker's spans, in another process, find their
    parent. Tracing off: just ``start(cmd)``."""
    if telemetry is None:
        return start(cmd)
    found = {f"platinum.{k}": str(v) for k in ("tenant_id", "workflow_id", "run_id")
             if (v := getattr(cmd, k, None)) is not None}  # fmt: skip
    if (trigger := getattr(cmd, "trigger", None)) is not None:
        found["platinum.trigger"] = str(trigger.get("kind"))
    if "platinum.run_id" in found:  # a rerun's command names the run it reruns
        found["platinum.rerun_of"] = found.pop("platinum.run_id")
    with telemetry.tracer.start_as_current_span(
        RUN_START, kind=SpanKind.INTERNAL, attributes=found
    ) as span:
        carrier: dict[str, str] = {}
        _W3C.inject(carrier)  # the current span: this one
        command: Any = cmd  # a frozen dataclass with a ``traceparent`` field
        done = start(dataclasses.replace(command, traceparent=carrier.get("traceparent")))
        span.set_attributes({"platinum.run_id": str(done.run.id),
                             "platinum.run.replayed": done.replayed})  # fmt: skip
    return done
