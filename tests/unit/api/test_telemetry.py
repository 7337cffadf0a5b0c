"""When a process traces (``Settings.tracing``), and what ``traced_start`` hands a run start."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from api.settings import Settings
from api.telemetry import RUN_START, build, traced_start
from domain.runs.link_commands import RerunRun

OTEL_VARS = ("PLATINUM_OTEL", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_SDK_DISABLED")


def settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for name in OTEL_VARS:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings(database_url="postgresql://x@127.0.0.1:1/db", data_dir=Path("/nonexistent"))


@pytest.mark.parametrize(
    ("env", "on"),
    [
        ({}, False),
        ({"PLATINUM_OTEL": "1"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
        ({"PLATINUM_OTEL": "1", "OTEL_SDK_DISABLED": "true"}, False),
    ],
)
def test_tracing_is_off_unless_asked_for(monkeypatch, env: dict[str, str], on: bool) -> None:
    s = settings(monkeypatch, **env)
    assert s.tracing is on
    telemetry = build(s)  # on: the OTLP exporter, batching (no span here: nothing is sent)
    assert (telemetry is not None) is on
    if telemetry is not None:
        telemetry.shutdown()


@dataclass
class Started:
    run: Any
    replayed: bool = False


def test_off_the_command_is_passed_on_untouched() -> None:
    cmd = RerunRun(tenant_id="t1", run_id=uuid.uuid4(), definition={}, started_by="u1")
    seen: list[Any] = []
    traced_start(None, lambda c: seen.append(c) or Started(None), cmd)
    assert seen == [cmd]


def test_on_the_command_carries_the_run_start_span(monkeypatch) -> None:
    exporter = InMemorySpanExporter()
    telemetry = build(settings(monkeypatch), exporter=exporter)
    original, new = uuid.uuid4(), uuid.uuid4()
    cmd = RerunRun(tenant_id="t1", run_id=original, definition={}, started_by="u1")
    seen: list[Any] = []
    traced_start(telemetry, lambda c: seen.append(c) or Started(type("R", (), {"id": new})),
                 cmd)  # fmt: skip
    [span] = exporter.get_finished_spans()
    c = span.context
    assert span.name == RUN_START
    assert seen[0].traceparent == f"00-{c.trace_id:032x}-{c.span_id:016x}-{int(c.trace_flags):02x}"
    assert span.attributes == {
        "platinum.tenant_id": "t1", "platinum.rerun_of": str(original),
        "platinum.run_id": str(new), "platinum.run.replayed": False,
    }  # fmt: skip
