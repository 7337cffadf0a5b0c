"""The worker the composition root starts feeds the step duration histogram."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from api import background, metrics


def test_start_worker_passes_the_step_duration_observer(monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.runtime.worker as worker_module

    built: dict[str, Any] = {}

    class Started:
        def start(self) -> Started:
            return self

    def build_worker(*args: Any, **kwargs: Any) -> Started:
        built.update(kwargs)
        return Started()

    monkeypatch.setattr(worker_module, "build_worker", build_worker)
    monkeypatch.setattr(background, "configure_egress", lambda settings: None)
    system = SimpleNamespace(eventsourcing_env=lambda settings: {}, conninfo="postgresql://x")
    container = SimpleNamespace(settings=None, db=SimpleNamespace(system=system), platform=None,
                                background=[], telemetry=None)  # fmt: skip
    background.start_worker(container)  # type: ignore[arg-type]
    assert built["observe"] is metrics.observe_step_duration
    assert len(container.background) == 1


def test_an_observed_attempt_is_counted_by_kind_and_outcome() -> None:
    def count() -> float:
        for metric in metrics.STEP_DURATION.collect():
            for sample in metric.samples:
                if sample.name.endswith("_count") and sample.labels == {
                    "kind": "probe-kind", "outcome": "succeeded"}:  # fmt: skip
                    return float(sample.value)
        return 0.0

    before = count()
    metrics.observe_step_duration("probe-kind", "succeeded", 0.2)
    assert count() == before + 1
