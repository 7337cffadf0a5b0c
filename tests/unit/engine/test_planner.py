"""The planner (the Runs application's RunPlanner port) and the scheduling errors, in memory."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from domain.kernel.errors import ValidationError
from domain.runs.application import Runs, StartRun
from domain.runs.run import Run
from engine.definition.compiled import CompiledDefinition
from engine.scheduling.errors import (
    DefinitionMismatchError,
    DefinitionUnavailableError,
    NoFixedPointError,
    SchedulingError,
)
from engine.scheduling.planner import EnginePlanner, build_runs, platform_definitions
from engine.scheduling.scheduler import RunView, advance, decide
from engine.steps.skills import ResolvedSkill
from tests.unit.engine.harness import T0, Harness, definition

NOW = datetime(2030, 1, 1, tzinfo=UTC)
SKILLED = definition(
    {"id": "s", "uses": "skill:acme/thing@^1", "with": {"x": "${{ config.region }}"}},
    {"id": "n", "uses": "noop", "needs": ["s"]},
)


def started(planner: EnginePlanner, data: dict[str, Any]) -> Run:
    return Runs(planner=planner).start_run(StartRun(
        tenant_id="t1", workflow_id=uuid.uuid4(), workflow_version=3, definition=data,
        input={}, started_by="u1"))  # fmt: skip


def uncached(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(CompiledDefinition, "cached", classmethod(lambda cls, h: None))


def test_a_definition_that_cannot_run_is_a_validation_error() -> None:
    with pytest.raises(ValidationError):
        EnginePlanner().prepare(definition({"id": "a", "uses": "noop", "needs": ["a"]}))


def test_a_runs_definition_comes_from_the_source_when_not_compiled_here(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = definition({"id": "a", "uses": "noop"})
    run = started(EnginePlanner(inline_kinds=()), data)
    uncached(monkeypatch)
    asked: list[tuple[str, str, int]] = []

    def source(tenant: str, workflow: str, version: int) -> dict[str, Any] | None:
        asked.append((tenant, workflow, version))
        return data

    assert EnginePlanner(source).compiled_for(run).hash == run.definition_hash
    assert asked == [("t1", run.workflow_id, 3)]


@pytest.mark.parametrize(
    ("source", "why"),
    [(None, "unknown here"), (lambda *a: None, "is gone"),
     (lambda *a: definition({"id": "b", "uses": "noop"}), "changed")],
)
def test_a_definition_that_cannot_be_had_is_a_named_error(
    monkeypatch: pytest.MonkeyPatch, source: Any, why: str
) -> None:
    run = started(EnginePlanner(inline_kinds=()), definition({"id": "a", "uses": "noop"}))
    uncached(monkeypatch)
    with pytest.raises(DefinitionUnavailableError, match=why) as e:
        EnginePlanner(source).compiled_for(run)
    assert e.value.run_id == run.id
    assert isinstance(e.value, SchedulingError)


def test_platform_definitions_read_the_workflows_pinned_version() -> None:
    wf = SimpleNamespace(definition_at=lambda v: {"version": v})
    platform = SimpleNamespace(get_workflow=lambda t, w: wf)
    source = platform_definitions(platform)
    assert source(str(uuid.uuid4()), str(uuid.uuid4()), 2) == {"version": 2}


class Skills:
    def resolve(self, tenant_id: str, name: str, version_range: str | None) -> ResolvedSkill | None:
        if name != "acme/thing":
            return None
        return ResolvedSkill(name, "1.2.0", "i1", {"region": "eu", "token": "s3cret"}, {},
                             secret_fields=("token",))  # fmt: skip


def test_skill_steps_see_their_installations_config_with_secrets_masked() -> None:
    planner = EnginePlanner(skills=Skills(), inline_kinds=())
    run = started(planner, SKILLED)
    compiled = planner.compiled_for(run)
    masked = {"acme/thing": {"region": "eu", "token": "********"}}
    assert planner.skill_configs(run, compiled) == masked
    assert run.steps["s"]["input"] == {"x": "eu"}
    assert EnginePlanner(inline_kinds=()).skill_configs(run, compiled) == {}


def test_call_for_answers_only_attempts_the_run_still_wants_executed() -> None:
    planner = EnginePlanner(inline_kinds=())
    data = definition({"id": "a", "uses": "noop"}, {"id": "f", "uses": "noop",
                                                    "foreach": "${{ input.items }}"})
    run = Runs(planner=planner).start_run(StartRun(
        tenant_id="t1", workflow_id=uuid.uuid4(), workflow_version=1, definition=data,
        input={"items": [1, 2]}, started_by="u1"))  # fmt: skip
    call = planner.call_for(run, "a", None, NOW)
    assert call is not None
    assert (call.step_id, call.attempt, call.uses) == ("a", 1, "noop")
    assert planner.call_for(run, "f", 0, NOW) is not None  # an item
    assert planner.call_for(run, "f", None, NOW) is None  # the foreach step itself
    assert planner.call_for(run, "f", 7, NOW) is None  # no such item
    assert planner.call_for(run, "nope", None, NOW) is None
    run.complete_step("a", None, 1, {})
    assert planner.call_for(run, "a", None, NOW) is None  # done


def test_inline_kinds_run_in_the_advance_and_nothing_is_queued() -> None:
    planner = EnginePlanner()
    run = started(planner, definition({"id": "a", "uses": "noop"},
                                      {"id": "b", "uses": "noop", "needs": ["a"]}))
    assert run.status == "succeeded"
    assert planner.inline_calls(run, planner.compiled_for(run), NOW) == []


def test_the_scheduler_refuses_another_definition_and_a_cascade_without_end() -> None:
    h = Harness(definition({"id": "a", "uses": "noop"}))
    other = CompiledDefinition.of(definition({"id": "a", "uses": "noop"}, name="other"))
    with pytest.raises(DefinitionMismatchError, match="pinned to definition"):
        decide(RunView.of(h.run), other, T0)
    h.run.complete_step("a", None, 1, {})
    with pytest.raises(NoFixedPointError):
        advance(h.run, h.compiled, T0, max_rounds=0)


def test_build_runs_gives_an_api_process_a_planner_that_defers_costly_starts() -> None:
    runs = build_runs({})
    try:
        assert isinstance(runs.planner, EnginePlanner)
        assert runs.planner.defer_costly_start
    finally:
        runs.close()
