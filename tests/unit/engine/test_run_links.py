"""Run links without a database: the scheduler's decisions for ``signal`` and ``workflow:``
steps (pure), the Run's signal buffer, child-run reports, the report task, reruns' reuse, and
submit-time validation of sub-workflows (unknown names, depth, cycles)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest

from domain.runs.links import MAX_DEPTH
from domain.runs.run import Run, RunStateError
from domain.runs.tasks import START_TASK_STEP, run_tasks
from engine.definition.validation import validate_definition
from engine.runtime.children import child_run_id, report, start_child
from engine.scheduling.decisions import FailStep, ScheduleStep, TakeSignal
from engine.scheduling.planner import EnginePlanner
from engine.steps import Failed, StartChild, StepCall, Waiting
from engine.steps.basic import signal
from engine.steps.subworkflow import subworkflow
from tests.unit.engine.harness import T0, Harness, definition

SIGNAL = definition(
    {"id": "go", "uses": "signal", "with": {"name": "go"}, "timeout_s": 60},
    {"id": "after", "uses": "noop", "needs": ["go"], "with": "${{ steps.go.output }}"},
)


def waiting_signal(h: Harness) -> None:
    """Record what the (pure, inline) signal kind answers for the scheduled step."""
    slot = h.run.slot("go")
    call = StepCall(h.run.id, "t1", "wf", "go", None, slot["attempt"], "signal", slot["input"],
                    60.0, "u1", h.now)  # fmt: skip
    outcome = signal(call, None)  # type: ignore[arg-type]
    assert isinstance(outcome, Waiting)
    h.run.wait_step("go", None, slot["attempt"], kind="signal", until=outcome.until,
                    name=outcome.name)  # fmt: skip


def test_a_signal_step_is_scheduled_then_waits_for_its_name_until_its_timeout() -> None:
    h = Harness(SIGNAL)
    assert h.log == [ScheduleStep("go", None, 1, None, {"name": "go"})]
    waiting_signal(h)
    assert h.advance() == []  # nothing to decide while it waits
    assert h.run.slot("go")["waiting"] == {
        "kind": "signal",
        "until": T0 + timedelta(seconds=60),
        "role": None,
        "name": "go",
    }


def test_a_signal_delivered_to_its_waiting_step_becomes_its_output() -> None:
    h = Harness(SIGNAL)
    waiting_signal(h)
    assert h.run.signal("go", {"x": 1}, by="u1") == ("go", None)
    made = h.advance()
    assert made[0] == ScheduleStep("after", None, 1, None, {"x": 1})
    assert h.run.slot("go")["output"] == {"x": 1}


def test_a_buffered_signal_is_taken_by_the_step_once_it_waits() -> None:
    h2 = Harness(definition({"id": "first", "uses": "noop"},
                            {"id": "go", "uses": "signal", "needs": ["first"],
                             "with": {"name": "go"}}))  # fmt: skip
    h2.run.signal("go", "early", by="u1")  # nobody waits: kept
    assert h2.run.signals == [{"name": "go", "payload": "early"}]
    h2.succeed("first")
    slot = h2.run.slot("go")
    h2.run.wait_step("go", None, slot["attempt"], kind="signal", until=None, name="go")
    assert h2.decide() == [TakeSignal("go", None, 1, "go")]
    h2.advance()
    assert h2.run.slot("go")["output"] == "early"
    assert h2.run.signals == []
    assert h2.run.status == "succeeded"


def test_a_signal_that_does_not_come_before_the_deadline_fails_with_timeout() -> None:
    h = Harness(SIGNAL)
    waiting_signal(h)
    h.now = T0 + timedelta(seconds=61)
    fail, *_ = h.decide()
    assert isinstance(fail, FailStep)
    assert (fail.error_kind, fail.retryable) == ("timeout", False)


def test_signals_to_ended_runs_or_past_the_buffer_are_refused() -> None:
    h = Harness(definition({"id": "first", "uses": "signal", "with": {"name": "a"}}))
    for i in range(100):
        h.run.signal("other", i, by="u1")
    with pytest.raises(RunStateError, match="no more are kept"):
        h.run.signal("other", 100, by="u1")
    h.run.cancel()
    with pytest.raises(RunStateError, match="takes no signal"):
        h.run.signal("a", 1, by="u1")


# -- sub-workflows


CHILD_DEF = definition({"id": "one", "uses": "transform", "with": "${{ input }}"},
                       output="${{ steps.one.output }}")  # fmt: skip
PARENT = definition({"id": "sub", "uses": "workflow:child", "timeout_s": 30, "with": {"n": 1}})


def started_child(h: Harness) -> Run:
    slot = h.run.slot("sub")
    call = StepCall(h.run.id, "t1", "wf", "sub", None, slot["attempt"], "workflow:child",
                    slot["input"], 30.0, "u1", h.now)  # fmt: skip
    spec = StartChild("wf-child", 1, CHILD_DEF, slot["input"], h.now + timedelta(seconds=30))
    child = start_child(h.run, call, spec, EnginePlanner(), h.now, worker_id="w1", token=None)
    assert child is not None
    return child


def test_a_workflow_step_starts_one_child_per_attempt_and_waits_for_it() -> None:
    h = Harness(PARENT)
    assert h.log == [ScheduleStep("sub", None, 1, None, {"n": 1})]
    child = started_child(h)
    assert child.id == UUID(str(h.run.slot("sub")["child"]))
    assert child.parent == {"run_id": str(h.run.id), "step_id": "sub", "index": None, "attempt": 1}
    assert (child.depth, child.input) == (1, {"n": 1})
    # the same attempt's child id is always the same: a repeated start clashes on it
    again = StepCall(h.run.id, "t1", "wf", "sub", None, 1, "workflow:child", {}, None, "u1", T0)
    assert child_run_id(again) == child.id
    with pytest.raises(RunStateError):  # the step waits already: a repeated result is stale
        started_child(h)


def test_a_child_that_ended_keeps_a_report_task_until_its_parent_was_told() -> None:
    h = Harness(PARENT)
    child = started_child(h)
    EnginePlanner().advance(child, T0)
    assert child.status == "succeeded"
    [task] = run_tasks(child).values()
    assert (task.step_id, task.kind) == (START_TASK_STEP, "timer")
    assert report(child, h.run) is True
    assert run_tasks(child) == {}
    h.advance()
    assert h.run.slot("sub")["output"] == {"n": 1}
    assert h.run.status == "succeeded"


def test_a_child_that_ran_too_long_fails_the_step_with_a_retryable_timeout() -> None:
    h = Harness(PARENT)
    started_child(h)
    h.now = T0 + timedelta(seconds=31)
    [fail] = h.decide()
    assert isinstance(fail, FailStep)
    assert (fail.error_kind, fail.retryable) == ("timeout", True)


def test_a_child_beyond_the_depth_limit_is_not_started() -> None:
    h = Harness(PARENT)
    h.run.depth = MAX_DEPTH  # as if this run were the deepest allowed
    slot = h.run.slot("sub")
    call = StepCall(h.run.id, "t1", "wf", "sub", None, 1, "workflow:child", slot["input"],
                    None, "u1", T0)  # fmt: skip
    spec = StartChild("wf-child", 1, CHILD_DEF, slot["input"], None)
    assert start_child(h.run, call, spec, EnginePlanner(), T0, worker_id="w", token=None) is None
    assert h.run.slot("sub")["error"]["kind"] == "depth"


def test_the_workflow_kind_fails_without_a_catalog() -> None:
    call = StepCall(UUID(int=1), "t1", "wf", "sub", None, 1, "workflow:x", {}, None, "u1", T0)
    outcome = subworkflow(call, type("Ctx", (), {"workflows": None, "platform": None})())  # type: ignore[arg-type]
    assert isinstance(outcome, Failed)
    assert outcome.kind == "workflow_unavailable"


def test_a_rerun_reuses_outputs_and_starts_where_they_end() -> None:
    b = {"id": "b", "uses": "noop", "needs": ["a"], "with": "${{ steps.a.output }}"}
    h = Harness(definition({"id": "a", "uses": "http", "with": {"url": "http://x"}}, b))
    assert h.scheduled() == [("a", None)]
    rerun = Run.start(tenant_id="t1", workflow_id="wf", workflow_version=1,
                      definition_hash=h.compiled.hash, step_ids=h.compiled.step_ids, input={},
                      started_by="u1", rerun_of=str(h.run.id))  # fmt: skip
    rerun.reuse_step("a", {"status": 200}, h.run.id)
    assert run_tasks(rerun)  # its start task: a worker may advance it
    EnginePlanner().advance(rerun, T0)  # the scheduler, and the noop inline
    assert rerun.slot("a")["reused"] == str(h.run.id)
    assert rerun.slot("b")["output"] == {"status": 200}
    assert rerun.status == "succeeded"


# -- validation


def resolver(tree: dict[str, dict[str, Any]]) -> Any:
    def resolve(name: str, version: int | None) -> dict[str, Any] | str:
        return tree.get(name) or f"no workflow named {name!r} in this tenant"

    return resolve


def calls(name: str) -> dict[str, Any]:
    return definition({"id": "s", "uses": f"workflow:{name}"})


def test_a_sub_workflow_of_an_unknown_workflow_is_a_problem_at_its_uses() -> None:
    problems = validate_definition(calls("nope"), workflow_resolver=resolver({}))
    assert [(p.pointer, p.message) for p in problems] == [
        ("/steps/0/uses", "no workflow named 'nope' in this tenant")
    ]


def test_sub_workflows_nested_too_deep_or_in_a_cycle_are_problems() -> None:
    chain = {f"w{i}": calls(f"w{i + 1}") for i in range(MAX_DEPTH + 1)}
    chain[f"w{MAX_DEPTH + 1}"] = definition({"id": "s", "uses": "noop"})
    [deep] = validate_definition(calls("w0"), workflow_resolver=resolver(chain))
    assert "nest deeper than 5 levels" in deep.message
    cycle = {"a": calls("b"), "b": calls("a")}
    [loop] = validate_definition(calls("a"), workflow_resolver=resolver(cycle))
    assert loop.message == "sub-workflows form a cycle: 'a' -> 'b' -> 'a'"
    ok = {"a": calls("b"), "b": definition({"id": "s", "uses": "noop"})}
    assert validate_definition(calls("a"), workflow_resolver=resolver(ok)) == []


def test_malformed_sub_workflow_and_signal_steps_are_problems() -> None:
    problems = validate_definition(definition(
        {"id": "a", "uses": "workflow:x@0"},
        {"id": "b", "uses": "signal"},
        {"id": "c", "uses": "signal", "with": {"name": "no spaces"}},
    ))  # fmt: skip
    pointers = [p.pointer for p in problems]
    assert "/steps/0/uses" in pointers
    assert "/steps/1/with" in pointers
    assert "/steps/2/with/name" in pointers


# -- the cascade (in-memory Runs, the engine's planner)


def saved_parent_and_child(retry: dict[str, Any] | None = None) -> tuple[Any, Harness, Run]:
    from domain.runs.application import Runs

    step = {"id": "sub", "uses": "workflow:child", "timeout_s": 30, "with": {"n": 1}}
    h = Harness(definition({**step, **({"retry": retry} if retry else {})}))
    child = started_child(h)
    child_wait = definition({"id": "w", "uses": "signal", "with": {"name": "never"}})
    runs = Runs(planner=EnginePlanner())
    # the child waits (a signal that never comes) instead of ending at once
    child = Run.start(
        tenant_id="t1", workflow_id="wf-child", workflow_version=1,
        definition_hash=Harness(child_wait).compiled.hash, step_ids=["w"], input={},
        started_by="u1", run_id=child.id, parent=child.parent, depth=1,
    )  # fmt: skip
    runs.save_runs([(h.run, {}), (child, {})])
    return runs, h, child


def test_a_timed_out_workflow_step_cancels_its_child_even_when_it_is_retried() -> None:
    runs, h, child = saved_parent_and_child({"max_attempts": 2, "initial_interval_s": 0})
    parent = runs.load(h.run.id)
    runs.planner.advance(parent, T0 + timedelta(seconds=31))  # type: ignore[union-attr]
    assert parent.slot("sub")["status"] == "scheduled"  # the retry, in the same save
    runs.save_runs([(parent, run_tasks(runs.load(h.run.id)))])
    stopped = runs.load(child.id)
    assert stopped.status == "cancelled"
    assert stopped.reported  # told already: its parent stopped waiting itself


def test_cancelling_a_parent_cancels_the_child_it_waits_for_in_the_same_save() -> None:
    runs, h, child = saved_parent_and_child()
    runs.cancel_run("t1", h.run.id, "stop")
    assert runs.load(child.id).status == "cancelled"
    assert run_tasks(runs.load(child.id)) == {}
