"""The engine's planner: the ``RunPlanner`` port of ``domain.runs.application.Runs``.

``advance`` runs the scheduler to a fixed point and executes the pure kinds (noop, transform,
fail, wait, approval) inline as soon as they are scheduled, so whole stretches of a run are
recorded in the one save that follows (and never touch the queue).

Expressions are evaluated under bounded evaluation (`engine.definition.expressions`): cheap ones
in this
process, others in the sandbox within one time budget per advance. A planner built with
``defer_costly_start`` (the API's) does not evaluate anything costly on a run's first advance:
it raises ``AdvanceDeferred`` and the start is recorded alone, for a worker to advance.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.kernel.errors import NotFoundError, ValidationError
from domain.runs.application import AdvanceDeferred, PreparedDefinition
from domain.runs.run import Run, StepStatus
from engine.definition.budget import evaluation_policy
from engine.definition.compiled import CompiledDefinition
from engine.definition.dsl import SKILL_PREFIX, parse_uses
from engine.definition.errors import EvaluationDeferred, ExpressionError
from engine.scheduling.errors import DefinitionUnavailableError
from engine.scheduling.scheduler import advance as scheduler_advance
from engine.steps import PURE_KINDS, Failed, KindContext, Outcome, StepCall, Succeeded, Waiting
from engine.steps import registry as kind_registry
from engine.steps.skills import SkillCatalog, SkillDirectory

DefinitionSource = Callable[[str, str, int], "dict[str, Any] | None"]
"""(tenant id, workflow id, version) -> that definition version, or None."""


def platform_definitions(platform: Any) -> DefinitionSource:
    """Definition versions read from the Platform application's Workflow aggregates."""

    def source(tenant_id: str, workflow_id: str, version: int) -> dict[str, Any] | None:
        workflow = platform.get_workflow(UUID(tenant_id), UUID(workflow_id))
        found: dict[str, Any] | None = workflow.definition_at(version)
        return found

    return source


def apply_outcome(
    run: Run, call: StepCall, outcome: Outcome, worker_id: str, token: int | None = None
) -> None:
    """Record an attempt's outcome, made under fencing token ``token`` (None: not leased).

    A worker records StepStarted when it takes the attempt; without one (inline kinds) the
    result implies it. A result under a token older than the attempt's latest start raises
    ``StaleStepResultError``."""
    sid, idx, attempt = call.step_id, call.index, call.attempt
    match outcome:
        case Succeeded():
            run.complete_step(sid, idx, attempt, outcome.output, worker_id=worker_id,
                              token=token)  # fmt: skip
        case Failed():
            run.fail_step(sid, idx, attempt, error_kind=outcome.kind, message=outcome.message,
                          retryable=outcome.retryable, worker_id=worker_id,
                          retry_after_s=outcome.retry_after_s, token=token)  # fmt: skip
        case Waiting():
            run.wait_step(sid, idx, attempt, kind=outcome.kind, until=outcome.until,
                          role=outcome.role, worker_id=worker_id, token=token,
                          name=outcome.name)  # fmt: skip


class EnginePlanner:
    """Compiles definitions (``CompiledDefinition``'s cache, by content hash) and advances runs."""

    def __init__(
        self,
        definitions: DefinitionSource | None = None,
        *,
        skills: SkillDirectory | None = None,
        inline_kinds: Collection[str] = PURE_KINDS,
        max_inline_steps: int = 500,
        defer_costly_start: bool = False,
    ) -> None:
        self.definitions = definitions
        self.skills = skills
        self.inline_kinds = frozenset(inline_kinds) & PURE_KINDS
        self.max_inline_steps = max_inline_steps
        self.defer_costly_start = defer_costly_start
        self._kinds = kind_registry()
        self._ctx = KindContext()

    # -- RunPlanner

    def prepare(self, definition: dict[str, Any]) -> PreparedDefinition:
        try:
            compiled = CompiledDefinition.of(definition)
        except (ValueError, ExpressionError) as e:
            raise ValidationError.one("/definition", f"the definition cannot run: {e}") from None
        return PreparedDefinition(compiled.hash, compiled.step_ids)

    def advance(self, run: Run, now: datetime) -> None:
        first = all(  # a rerun's reused steps do not count: nothing ran yet
            s["status"] == StepStatus.PENDING or s.get("reused") for s in run.steps.values()
        )
        with evaluation_policy(defer_costly=self.defer_costly_start and first):
            try:
                self._advance(run, now)
            except EvaluationDeferred:
                raise AdvanceDeferred(str(run.id)) from None

    def _advance(self, run: Run, now: datetime) -> None:
        compiled = self.compiled_for(run)
        configs = self.skill_configs(run, compiled)
        budget = self.max_inline_steps
        while True:
            scheduler_advance(run, compiled, now, skill_configs=configs)
            inline = self.inline_calls(run, compiled, now)[:budget] if budget > 0 else []
            if not inline:
                return  # what is left scheduled goes to the queue (run_tasks)
            budget -= len(inline)
            for call in inline:
                apply_outcome(run, call, self._kinds[call.uses](call, self._ctx), "inline")

    # -- helpers for the worker

    def compiled_for(self, run: Run) -> CompiledDefinition:
        """The run's pinned definition, compiled (cached by hash; else from the source);
        ``DefinitionUnavailableError`` if it cannot be had."""
        found = CompiledDefinition.cached(run.definition_hash)
        if found is not None:
            return found
        if self.definitions is None:
            raise DefinitionUnavailableError(
                run.id, f"definition {run.definition_hash} is unknown here"
            )
        data = self.definitions(run.tenant_id, run.workflow_id, run.workflow_version)
        if data is None:
            raise DefinitionUnavailableError(
                run.id, f"workflow version {run.workflow_version} is gone"
            )
        compiled = CompiledDefinition.of(data)
        if compiled.hash != run.definition_hash:
            raise DefinitionUnavailableError(
                run.id, f"workflow version {run.workflow_version} changed"
            )
        return compiled

    def skill_configs(self, run: Run, compiled: CompiledDefinition) -> dict[str, Any]:
        if self.skills is None:
            return {}
        configs: dict[str, Any] = {}
        for cs in compiled.steps.values():
            if cs.step.uses.startswith(SKILL_PREFIX):
                name, version_range = parse_uses(cs.step.uses)
                found = self.skills.resolve(run.tenant_id, name, version_range)
                if found is not None:
                    configs[name] = found.public_config  # secrets never reach expressions
        return configs

    def call_for(self, run: Run, step_id: str, index: int | None, now: datetime) -> StepCall | None:
        """The attempt a task stands for, if the run still wants it executed."""
        compiled = self.compiled_for(run)
        try:
            slot = run.slot(step_id, index)
        except NotFoundError:
            return None
        if slot["status"] not in (StepStatus.SCHEDULED, StepStatus.RUNNING) or slot["waiting"]:
            return None
        if slot.get("items") is not None:
            return None
        cs = compiled.steps[step_id]
        return StepCall(
            run_id=run.id, tenant_id=run.tenant_id, workflow_id=run.workflow_id,
            step_id=step_id, index=index, attempt=int(slot["attempt"]), uses=cs.step.uses,
            input=slot["input"], timeout_s=cs.timeout_s, started_by=run.started_by, now=now,
            traceparent=run.traceparent,
        )  # fmt: skip

    def inline_calls(self, run: Run, compiled: CompiledDefinition, now: datetime) -> list[StepCall]:
        """Scheduled, due attempts of pure kinds (run them now rather than queue them)."""
        if run.is_done or not self.inline_kinds:
            return []
        calls = []
        for sid, step in run.steps.items():
            if compiled.steps[sid].step.uses not in self.inline_kinds:
                continue
            items = step.get("items")
            indexes: list[int | None] = [None] if items is None else list(range(len(items)))
            for index in indexes:
                slot = step if items is None or index is None else items[index]
                if slot["status"] != StepStatus.SCHEDULED:
                    continue
                if slot["not_before"] is not None and slot["not_before"] > now:
                    continue
                call = self.call_for(run, sid, index, now)
                if call is not None:
                    calls.append(call)
        return calls


def build_runs(
    es_env: dict[str, str], *, platform: Any = None, skill_catalog: SkillCatalog | None = None
) -> Any:
    """The ``Runs`` application for an API process: task recorder + this planner.

    ``es_env`` is the eventsourcing environment of the process's role; ``platform`` serves
    definition versions (and, with ``skill_catalog``, skill configs for expressions).
    """
    from domain.runs.application import Runs
    from engine.runtime.task_store import runs_env

    planner = platform_planner(platform, skill_catalog, defer_costly_start=True)
    return Runs(env=runs_env(es_env), planner=planner)


def platform_planner(
    platform: Any, skill_catalog: SkillCatalog | None, **options: Any
) -> EnginePlanner:
    """A planner whose definitions (and, with ``skill_catalog``, skills) come from ``platform``;
    ``options`` go to ``EnginePlanner`` (the API defers costly starts, workers run kinds inline)."""
    from engine.steps.skills import PlatformSkills

    skills = (
        PlatformSkills(platform, skill_catalog)
        if platform is not None and skill_catalog is not None
        else None
    )
    return EnginePlanner(
        platform_definitions(platform) if platform is not None else None, skills=skills, **options
    )
