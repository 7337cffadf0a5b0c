"""A run's data sealed under the run's own key, opened on load, shredded for good (in memory)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from domain.kernel.errors import ValidationError
from domain.kernel.personal_data import replace_at
from domain.kernel.retention import run_data_days
from domain.kernel.shredding import ERASED, SUBJECT_FIELD
from domain.runs.application import Runs
from domain.runs.run import Run, RunStateError
from tests.support.doubles import SEALED
from tests.unit.domain.test_runs_application import WF

SECRETS = ("alpha-input", "beta-with", "gamma-output", "delta-error", "epsilon-final")


def stored_text(app: Runs) -> str:
    """Every stored event and snapshot as the audit log reads them (tokens stay sealed)."""
    events = app.recorder.select_notifications(1, 10_000)
    found = [vars(app.raw_mapper.to_domain_event(n)) for n in events]
    if app.snapshots is not None:
        for run_id in {e["originator_id"] for e in found}:
            found += [vars(app.raw_mapper.to_domain_event(s))
                      for s in app.snapshots.recorder.select_events(run_id)]  # fmt: skip
    return "\n".join(json.dumps(e, default=str) for e in found)


def finished_run(app: Runs) -> Run:
    """A run whose every kind of datum holds a secret: input, step input, outputs, errors."""
    run = Run.start(
        tenant_id="t1", workflow_id=str(WF), workflow_version=1, definition_hash="h",
        step_ids=["a", "b"], input={"s": "alpha-input"}, started_by="u1",
    )  # fmt: skip
    run.schedule_step("a", None, 1, None, {"with": "beta-with"})
    run.complete_step("a", None, 1, {"out": "gamma-output", "n": 1.5})
    run.schedule_step("b", None, 1, None, {})
    run.fail_step("b", None, 1, error_kind="http", message="delta-error", retryable=False)
    run.fail("step b failed: delta-error (epsilon-final)")
    app.save(run)
    return run


def test_run_data_is_stored_sealed_under_the_run_and_loaded_open() -> None:
    app = Runs(env=SEALED)
    run = finished_run(app)
    text = stored_text(app)
    for secret in SECRETS:
        assert secret not in text, secret
    assert f'"{SUBJECT_FIELD}": "{run.id}"' in text  # the run is the subject of its tokens
    loaded = app.load(run.id)
    assert loaded.input == {"s": "alpha-input"}
    assert loaded.steps["a"]["input"] == {"with": "beta-with"}
    assert loaded.steps["a"]["output"] == {"out": "gamma-output", "n": 1.5}
    assert loaded.steps["b"]["error"]["message"] == "delta-error"
    assert "epsilon-final" in str(loaded.reason)


def test_a_snapshot_of_a_run_holds_its_data_sealed() -> None:
    app = Runs(env={**SEALED, "IS_SNAPSHOTTING_ENABLED": "y"})
    run = finished_run(app)
    app.take_snapshot(run.id)
    assert app.snapshots is not None
    snapshots = list(app.snapshots.get(run.id))
    assert snapshots
    text = stored_text(app)
    for secret in SECRETS:
        assert secret not in text, secret
    assert app.repository.get(run.id).steps["a"]["output"]["out"] == "gamma-output"


def test_shredding_a_finished_run_erases_its_data_once() -> None:
    app = Runs(env=SEALED)
    run = finished_run(app)
    assert app.shred_run_data("t1", run.id, 30) is True
    assert app.shred_run_data("t1", run.id, 30) is False  # idempotent: nothing more recorded
    names = [type(e).__qualname__ for e in app.events.get(run.id)]
    assert names.count("Run.DataShredded") == 1
    # loaded from events whose key is gone: every datum reads [erased], never the plaintext
    loaded = app.load(run.id)
    assert loaded.data_shredded
    assert loaded.input == ERASED
    assert loaded.steps["a"]["input"] == loaded.steps["a"]["output"] == ERASED
    assert loaded.steps["b"]["error"] == {"kind": "http", "message": ERASED, "retryable": False}
    assert loaded.reason == ERASED
    events = [vars(e) for e in app.events.get(run.id)]
    for secret in SECRETS:
        assert secret not in json.dumps(events, default=str), secret


def test_a_run_still_running_is_not_shredded() -> None:
    app = Runs(env=SEALED)
    run = Run.start(
        tenant_id="t1", workflow_id=str(WF), workflow_version=1, definition_hash="h",
        step_ids=["a"], input={"s": "alpha-input"}, started_by="u1",
    )  # fmt: skip
    app.save(run)
    with pytest.raises(RunStateError):
        app.shred_run_data("t1", run.id, 30)
    assert app.load(run.id).input == {"s": "alpha-input"}


def test_replace_at_reaches_every_key_and_item_and_copies_on_the_way() -> None:
    inner = {"x": {"input": 1, "items": [{"input": 2}, {"input": None}]}}
    state: dict[str, Any] = {"steps": inner}
    replace_at(state, ["steps", "*", "items", "*", "input"], lambda v: v * 10)
    replace_at(state, ["steps", "*", "input"], lambda v: -v)
    assert state == {"steps": {"x": {"input": -1, "items": [{"input": 20}, {"input": None}]}}}
    assert inner == {"x": {"input": 1, "items": [{"input": 2}, {"input": None}]}}  # untouched


@pytest.mark.parametrize("value", [0, -1, 36_501, 1.5, "30", True, None, [30]])
def test_retention_days_refuse_anything_but_a_whole_number_of_days(value: Any) -> None:
    with pytest.raises(ValidationError):
        run_data_days(value)


def test_retention_days_take_whole_days() -> None:
    assert run_data_days(1) == 1
    assert run_data_days(36_500) == 36_500
