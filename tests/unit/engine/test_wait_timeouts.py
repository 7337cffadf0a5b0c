"""`wait` and `timeout_s` (workflow-dsl.md): an explicit `timeout_s` bounds the timer, a
shorter literal one is rejected at submit, and `defaults.timeout_s` does not apply to a wait."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from domain.runs.run import Run
from engine.definition.validation import Problem, validate_definition
from engine.scheduling.planner import EnginePlanner
from tests.unit.engine.harness import RUN_ID, T0, definition


def started(data: dict[str, Any], input: Any = None, planner: EnginePlanner | None = None) -> Run:
    """A run of ``data`` advanced once at T0 by the engine's planner (pure kinds run inline)."""
    planner = planner or EnginePlanner()
    prepared = planner.prepare(data)
    run = Run.start(
        tenant_id="t1", workflow_id="wf", workflow_version=1, definition_hash=prepared.hash,
        step_ids=prepared.step_ids, input=input or {}, started_by="u1", run_id=RUN_ID,
    )  # fmt: skip
    planner.advance(run, T0)
    return run


def test_a_wait_with_a_shorter_explicit_timeout_is_rejected_at_submit() -> None:
    short = {"id": "w", "uses": "wait", "with": {"seconds": 60}, "timeout_s": 30}
    assert validate_definition(definition(short)) == [
        Problem(
            "/steps/0/timeout_s",
            "step 'w' (wait) has timeout_s 30, shorter than its with.seconds 60: "
            "the timer could never end within its timeout",
        )
    ]
    # a numeric string is read as the wait kind reads it
    as_text = definition({**short, "with": {"seconds": "60"}})
    assert [p.pointer for p in validate_definition(as_text)] == ["/steps/0/timeout_s"]
    # as long as the timer, or longer, is fine; so is a defaults.timeout_s shorter than it
    assert validate_definition(definition({**short, "timeout_s": 60})) == []
    assert validate_definition(definition({**short, "timeout_s": None})) == []
    lax = definition({**short, "timeout_s": None}, defaults={"timeout_s": 5})
    assert validate_definition(lax) == []


def test_defaults_timeout_does_not_bound_a_wait() -> None:
    data = definition(
        {"id": "w", "uses": "wait", "with": {"seconds": 60}}, defaults={"timeout_s": 5}
    )
    run = started(data)
    slot = run.steps["w"]
    assert (slot["status"], slot["waiting"]["until"]) == ("running", T0 + timedelta(seconds=60))


def test_a_wait_whose_timer_ends_past_its_explicit_timeout_fails_with_kind_timeout() -> None:
    # seconds from an expression: only known when the step starts
    data = definition(
        {"id": "w", "uses": "wait", "with": {"seconds": "${{ input.s }}"}, "timeout_s": 30}
    )
    run = started(data, {"s": 60})
    slot = run.steps["w"]
    assert slot["status"] == "failed"
    assert slot["error"]["kind"] == "timeout"
    assert slot["error"]["retryable"] is False  # another attempt would wait as long
    assert run.status == "failed"
    # until: a later attempt might fit, so it is retryable like any timeout
    late = (T0 + timedelta(hours=1)).isoformat()
    until = definition({"id": "w", "uses": "wait", "with": {"until": late}, "timeout_s": 30})
    error = started(until).steps["w"]["error"]
    assert (error["kind"], error["retryable"]) == ("timeout", True)


def test_a_wait_that_fits_its_timeout_waits() -> None:
    data = definition(
        {"id": "w", "uses": "wait", "with": {"seconds": "${{ input.s }}"}, "timeout_s": 30}
    )
    slot = started(data, {"s": 20}).steps["w"]
    assert (slot["status"], slot["waiting"]["until"]) == ("running", T0 + timedelta(seconds=20))
