"""Bounded evaluation: costly expressions fail with kind `expression` within their budgets, in a
sandbox process; the request path defers them to a worker (issue 12, finding 2)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from domain.runs.application import Runs, StartRun
from domain.runs.run import Run
from domain.runs.tasks import START_TASK_STEP, run_tasks
from engine.definition.compiled import CompiledDefinition
from engine.definition.errors import SandboxError
from engine.definition.expressions import Expression, Scope
from engine.definition.sandbox import Limits, Sandbox
from engine.scheduling.decisions import FailStep, ScheduleStep
from engine.scheduling.planner import EnginePlanner
from engine.scheduling.scheduler import RunView, decide

pytestmark = pytest.mark.timeout(60)

BOMB = "${{ input.l.map(x, input.l.map(y, input.s)) }}"
# 2.4 KB of input: 400 numbers and a 1,200-character string (the reproduction)
BOMB_INPUT = {"l": list(range(400)), "s": "x" * 1200}
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def bomb_definition() -> dict[str, Any]:
    return {"name": "bomb", "steps": [{"id": "boom", "uses": "transform", "with": {"v": BOMB}}]}


def started(compiled: CompiledDefinition, input: Any) -> Run:
    return Run.start(
        tenant_id="t", workflow_id="w", workflow_version=1, definition_hash=compiled.hash,
        step_ids=compiled.step_ids, input=input, started_by="u", started_at=NOW,
    )  # fmt: skip


@pytest.fixture(scope="module")
def sandbox() -> Any:
    box = Sandbox(Limits(timeout_s=1.0, memory_mb=160))
    yield box
    box.close()


def test_the_expression_bomb_fails_its_step_with_kind_expression() -> None:
    compiled = CompiledDefinition(bomb_definition())
    run = started(compiled, BOMB_INPUT)
    # the scheduler evaluates the step's `with`: the sandbox stops it at its time budget
    decisions = decide(RunView.of(run), compiled, NOW)
    assert len(decisions) == 1
    failed = decisions[0]
    assert isinstance(failed, FailStep), failed
    assert failed.error_kind == "expression"
    assert "budget" in failed.message
    assert not failed.retryable


def test_an_expression_past_the_memory_cap_fails_in_the_sandbox(sandbox: Sandbox) -> None:
    # 3,600 copies of a 100 KB string: 360 MB as Python strings, over the 160 MB cap
    big = {"input": {"l": list(range(60)), "s": "x" * 100_000}}
    slow = Sandbox(Limits(timeout_s=30.0, memory_mb=160))  # only the memory cap can stop it
    try:
        with pytest.raises(SandboxError, match="memory budget"):
            slow.evaluate("input.l.map(x, input.l.map(y, input.s))", big)
        # a fresh child answers the next call
        assert slow.evaluate("input.l.size()", big) == 60
    finally:
        slow.close()


def test_a_result_larger_than_the_limit_is_refused() -> None:
    box = Sandbox(Limits(timeout_s=10.0, memory_mb=256, max_result_bytes=10_000))
    try:
        with pytest.raises(SandboxError, match="the limit is 10,000 bytes"):
            box.evaluate("input.l.map(x, input.s)", {"input": {"l": [1] * 10, "s": "y" * 2000}})
    finally:
        box.close()


def test_the_sandbox_answers_again_after_a_timeout(sandbox: Sandbox) -> None:
    with pytest.raises(SandboxError, match="time budget"):
        sandbox.evaluate("input.l.map(x, input.l.map(y, input.s))", {"input": BOMB_INPUT})
    assert sandbox.evaluate("input.l.filter(x, x < 3)", {"input": {"l": [1, 5, 2]}}) == [1, 2]
    with pytest.raises(SandboxError, match="no such key"):
        sandbox.evaluate("input.missing", {"input": {}})


def test_only_small_macro_free_expressions_are_cheap() -> None:
    small = {"input": {"a": 1}}
    assert Expression.compile("input.a + 1").is_cheap(small)
    assert not Expression.compile("[1, 2].map(x, x)").is_cheap(small)
    assert not Expression.compile("input.a + 1").is_cheap({"input": {"s": "x" * 100_000}})
    assert not Expression.compile(" + ".join(["input.a"] * 60)).is_cheap(small)


def test_comprehensions_still_evaluate_to_their_value() -> None:
    expr = Expression.compile("input.l.map(x, x * 2)")
    assert expr.evaluate(Scope(input={"l": [1, 2, 3]}, steps={}, run={})) == [2, 4, 6]


def test_a_costly_first_advance_on_the_request_path_is_left_to_a_worker() -> None:
    runs = Runs(planner=EnginePlanner(defer_costly_start=True), clock=lambda: NOW)
    definition = bomb_definition()
    run = runs.start_run(
        StartRun(tenant_id="t", workflow_id="w", workflow_version=1, definition=definition,
                 input=BOMB_INPUT, started_by="u")
    )  # fmt: skip
    # only the start is recorded; its start task has a worker advance the run
    assert [type(e).__name__ for e in runs.events.get(run.id)] == ["Started"]
    assert {s["status"] for s in run.steps.values()} == {"pending"}
    tasks = list(run_tasks(run).values())
    assert [(t.step_id, t.kind, t.attempt) for t in tasks] == [(START_TASK_STEP, "timer", 0)]
    # the worker's planner (no deferral) advances it: the step fails with kind `expression`
    worker = EnginePlanner()
    worker.prepare(definition)
    worker.advance(run, NOW)
    assert run.steps["boom"]["status"] == "failed"
    assert run.steps["boom"]["error"]["kind"] == "expression"
    assert run_tasks(run) == {}


def test_a_cheap_start_is_still_advanced_in_the_request() -> None:
    runs = Runs(planner=EnginePlanner(defer_costly_start=True), clock=lambda: NOW)
    definition = {"name": "q", "steps": [{"id": "a", "uses": "transform", "with": "${{ input }}"}]}
    run = runs.start_run(
        StartRun(tenant_id="t", workflow_id="w", workflow_version=1, definition=definition,
                 input={"n": 1}, started_by="u")
    )  # fmt: skip
    assert run.status == "succeeded"
    assert run.steps["a"]["output"] == {"n": 1}


def test_a_plainly_too_costly_comprehension_fails_before_the_sandbox(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from engine.definition import budget
    from engine.definition.errors import ExpressionError

    def no_sandbox(*_: object) -> Any:
        raise AssertionError("sent to the sandbox")

    monkeypatch.setattr(budget, "evaluate_in_sandbox", no_sandbox)
    expr = Expression.compile(BOMB.removeprefix("${{").removesuffix("}}"))
    with pytest.raises(ExpressionError, match=r"would take about \d+s of CPU"):
        expr.evaluate(Scope(input=BOMB_INPUT, steps={}, run={}))


def test_one_pass_spends_at_most_its_sandbox_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.definition import budget
    from engine.definition.budget import _Config, evaluation_policy

    monkeypatch.setattr(budget, "MACRO_STEPS_PER_S", 1e15)  # no fast failure: the budget

    definition = {
        "name": "many",
        "steps": [
            {"id": f"s{i}", "uses": "transform", "with": BOMB, "continue_on_error": True}
            for i in range(3)
        ],
    }
    compiled = CompiledDefinition(definition)
    run = started(compiled, BOMB_INPUT)
    saved = _Config.advance_budget_s
    _Config.advance_budget_s = 0.5  # less than one expression's time budget
    try:
        with evaluation_policy(defer_costly=False):
            decisions = decide(RunView.of(run), compiled, NOW)
    finally:
        _Config.advance_budget_s = saved
    failed = [d for d in decisions if isinstance(d, FailStep)]
    assert not [d for d in decisions if isinstance(d, ScheduleStep)]
    assert [d.step_id for d in failed] == ["s0", "s1", "s2"]
    # the first expression spends the pass's budget; the others are not even sent
    assert "(the time budget)" in failed[0].message
    assert all("spent its expression time budget" in d.message for d in failed[1:])
