"""The scheduler: a pure function from a run's state to what should happen next.

`decide(view, definition, now)` reads a `RunView` (the Run aggregate's folded events) and returns
`Decision`s; it does no I/O and reads no clock but `now`. `apply_decisions` turns decisions into
Run commands (pending events); `advance` repeats decide/apply to a fixed point, so a worker does:

    run = runs.load(run_id)
    run.complete_step("fetch", None, attempt, output)   # the step result
    advance(run, compiled, now)                         # the cascade it causes
    runs.save_runs([(run, before)])                     # ONE save, with the run's task changes

(the attempts it scheduled reach the queue as those task changes: `domain.runs.tasks`). Which
failures are retried, and when, is `engine.scheduling.retry`'s.

Semantics (docs/engine.md): a step starts when its needs are finished and its trigger holds;
`if` false -> skipped; skips propagate through `all_success`; once a step fails for good (and has
no `continue_on_error`) no new step starts but `all_done` ones, in-flight work finishes (retries
included), then the run fails.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from domain.runs.run import STEP_DONE, Run, RunStatus, StepStatus
from engine.definition.compiled import CompiledDefinition, CompiledStep
from engine.definition.dsl import SKILL_PREFIX
from engine.definition.errors import ExpressionError
from engine.definition.expressions import Scope
from engine.scheduling.decisions import (
    CompleteRun,
    CompleteStep,
    Decision,
    ExpandForeach,
    FailRun,
    FailStep,
    RetryStep,
    ScheduleStep,
    SkipStep,
    TakeSignal,
    apply_decisions,
)
from engine.scheduling.errors import DefinitionMismatchError, NoFixedPointError
from engine.scheduling.retry import LEASE_EXPIRED, backoff, honour_retry_after, retry_eligible

# --------------------------------------------------------------------------------------------
# The state the scheduler reads


@dataclass(frozen=True)
class RunView:
    """A read-only view of a run's folded state (shares the aggregate's data; copy nothing)."""

    run_id: UUID
    status: str
    definition_hash: str
    input: Any
    started_by: str
    started_at: datetime
    steps: Mapping[str, Mapping[str, Any]]
    signals: Sequence[Mapping[str, Any]] = ()
    """Signals received while no step waited for them (oldest first)."""

    @classmethod
    def of(cls, run: Run) -> RunView:
        return cls(
            run.id, run.status, run.definition_hash, run.input, run.started_by, run.started_at,
            run.steps, run.signals,
        )  # fmt: skip

    def scope(self) -> Scope:
        """The expression scope; `steps` is a fresh dict the caller may update."""
        steps = {
            sid: {"output": s["output"], "status": s["status"]} for sid, s in self.steps.items()
        }
        started_at = self.started_at.isoformat().replace("+00:00", "Z")
        run = {"id": str(self.run_id), "started_by": self.started_by, "started_at": started_at}
        return Scope(input=self.input, steps=steps, run=run)


# --------------------------------------------------------------------------------------------
# decide


def decide(
    state: RunView,
    definition: CompiledDefinition,
    now: datetime,
    *,
    skill_configs: Mapping[str, Any] | None = None,
) -> list[Decision]:
    """What should happen next in the run; [] when nothing (or when paused or finished).

    `skill_configs` maps a skill name to its installed config (the `config` of skill steps).
    """
    if state.status != RunStatus.RUNNING:
        return []
    if state.definition_hash != definition.hash:
        raise DefinitionMismatchError(state.run_id, state.definition_hash, definition.hash)
    return _Pass(state, definition, now, skill_configs or {}).run()


class _Pass:
    """One decide() call: walks the steps in topological order, recording what it decided in an
    overlay so that skips and failures cascade within the same call."""

    def __init__(
        self,
        state: RunView,
        definition: CompiledDefinition,
        now: datetime,
        configs: Mapping[str, Any],
    ) -> None:
        self.state, self.defn, self.now, self.configs = state, definition, now, configs
        self.decisions: list[Decision] = []
        self.overlay: dict[str, str] = {}
        self._scope: Scope | None = None
        self.buffered = list(state.signals)  # the signals not yet taken in this pass
        self.failing: str | None = next(
            (sid for sid in definition.order if self._fails_the_run(sid)), None
        )

    # -- status helpers

    def status(self, sid: str) -> str:
        return self.overlay.get(sid) or str(self.state.steps[sid]["status"])

    def done_status(self, sid: str) -> str | None:
        """The step's final status, or None while it may still change (a retry is due)."""
        status = self.status(sid)
        if status not in STEP_DONE:
            return None
        if sid not in self.overlay and retry_eligible(
            self.state.steps[sid], self.defn.steps[sid].retry
        ):
            return None
        return status

    def _fails_the_run(self, sid: str) -> bool:
        return (
            self.done_status(sid) == StepStatus.FAILED
            and not self.defn.steps[sid].step.continue_on_error
        )

    def scope(self) -> Scope:
        if self._scope is None:
            self._scope = self.state.scope()
        return self._scope

    def mark(self, sid: str, status: StepStatus, output: Any = None) -> None:
        self.overlay[sid] = status.value
        if self._scope is not None:
            self._scope.steps[sid] = {"output": output, "status": status.value}  # type: ignore[index]
        if self.failing is None and self._fails_the_run(sid):
            self.failing = sid

    def step_scope(self, cs: CompiledStep) -> Scope:
        scope = self.scope()
        uses = cs.step.uses
        if uses.startswith(SKILL_PREFIX):
            name = uses.removeprefix(SKILL_PREFIX).split("@", 1)[0]
            if name in self.configs:
                return Scope(scope.input, scope.steps, scope.run, config=self.configs[name])
        return scope

    # -- the pass

    def run(self) -> list[Decision]:
        for sid in self.defn.order:
            cs = self.defn.steps[sid]
            slot = self.state.steps[sid]
            status = slot["status"]
            if status == StepStatus.FAILED:
                self.maybe_retry(cs, None, slot)
            elif status == StepStatus.RUNNING:
                if slot.get("items") is not None:
                    self.foreach_progress(cs, slot)
                else:
                    self.check_running(cs, None, slot)
            elif status == StepStatus.PENDING:
                self.consider_pending(cs)
        if not self.decisions:
            self.maybe_finish()
        return self.decisions

    def maybe_retry(self, cs: CompiledStep, index: int | None, slot: Mapping[str, Any]) -> bool:
        if not retry_eligible(slot, cs.retry):
            return False
        attempt = int(slot["attempt"])
        if slot["error"]["kind"] == LEASE_EXPIRED:
            not_before = None  # the attempt was lost, not failed: go again at once
        else:
            delay = backoff(cs.retry, self.state.run_id, cs.id, index, attempt - int(slot["lost"]))
            delay = honour_retry_after(delay, slot["error"].get("retry_after_s"), cs.retry)
            not_before = slot["failed_at"] + timedelta(seconds=delay)
        self.decisions.append(RetryStep(cs.id, index, attempt + 1, not_before))
        return True

    def check_running(self, cs: CompiledStep, index: int | None, slot: Mapping[str, Any]) -> None:
        """Durable timers: a `wait` that is due, an approval past its deadline. (An attempt
        a worker executes is the queue's: its lease, renewed by the worker's heartbeat, says
        whether the worker is alive, not the run.)"""
        waiting, attempt = slot["waiting"], int(slot["attempt"])
        if waiting is None:
            return
        name = waiting.get("name")
        taken = next((s for s in self.buffered if s["name"] == name), None)
        if waiting["kind"] == "signal" and taken is not None:
            self.buffered.remove(taken)
            self.decisions.append(TakeSignal(cs.id, index, attempt, str(name)))
            if index is None:
                self.mark(cs.id, StepStatus.SUCCEEDED, taken["payload"])
            return
        until = waiting["until"]
        if until is None or self.now < until:
            return
        if waiting["kind"] == "wait":
            output = {"waited_until": until.isoformat().replace("+00:00", "Z")}
            self.decisions.append(CompleteStep(cs.id, index, attempt, output))
            if index is None:
                self.mark(cs.id, StepStatus.SUCCEEDED, output)
        else:
            what = {"signal": f"no signal {waiting.get('name')!r}",
                    "workflow": f"child run {waiting.get('child_run_id')} did not end"}  # fmt: skip
            message = f"{what.get(waiting['kind'], 'no decision')} before the deadline " + (
                until.isoformat()
            )
            # a child run that timed out may be retried (a new child); a decision or signal not
            # given in time would not come sooner
            retryable = waiting["kind"] == "workflow"
            self.fail(cs, index, attempt, "timeout", message, retryable=retryable)

    def fail(
        self,
        cs: CompiledStep,
        index: int | None,
        attempt: int,
        kind: str,
        message: str,
        *,
        retryable: bool,
    ) -> None:
        self.decisions.append(FailStep(cs.id, index, attempt, kind, message, retryable))
        if index is None and not retryable:
            self.mark(cs.id, StepStatus.FAILED)

    def consider_pending(self, cs: CompiledStep) -> None:
        sid, trigger = cs.id, cs.step.trigger
        if self.failing is not None and trigger != "all_done":
            self.skip(sid, f"not started: step '{self.failing}' failed")
            return
        needs = {need: self.done_status(need) for need in cs.step.needs}
        unfinished = [n for n, s in needs.items() if s is None]
        if trigger == "all_success":
            bad = next(
                ((n, s) for n, s in needs.items() if s not in (None, StepStatus.SUCCEEDED)), None
            )
            if bad is not None:
                self.skip(sid, f"need '{bad[0]}' {bad[1]} (trigger all_success)")
                return
        if unfinished:
            return
        if trigger == "any_success" and needs and StepStatus.SUCCEEDED not in needs.values():
            self.skip(sid, "no need succeeded (trigger any_success)")
            return
        self.start(cs)

    def skip(self, sid: str, reason: str) -> None:
        self.decisions.append(SkipStep(sid, reason))
        self.mark(sid, StepStatus.SKIPPED)

    def start(self, cs: CompiledStep) -> None:
        scope = self.step_scope(cs)
        try:
            if not self.defn.evaluate_if(cs.id, scope):
                self.skip(cs.id, f"condition `{cs.if_.source if cs.if_ else ''}` is false")
                return
            if cs.foreach is not None:
                items = self.defn.evaluate_foreach(cs.id, scope)
            else:
                self.decisions.append(
                    ScheduleStep(cs.id, None, 1, None, self.defn.evaluate_with(cs.id, scope))
                )
                return
        except ExpressionError as e:
            self.fail(cs, None, 1, "expression", str(e), retryable=False)
            return
        self.decisions.append(ExpandForeach(cs.id, items))
        fresh = {
            "status": StepStatus.PENDING.value,
            "attempt": 0,
            "lost": 0,
            "error": None,
            "output": None,
        }
        self.foreach_progress(cs, {"items": [dict(fresh) for _ in items], "item_values": items})

    def foreach_progress(self, cs: CompiledStep, slot: Mapping[str, Any]) -> None:
        """Retry, schedule (bounded by max_parallel) and finally gather a foreach step's items."""
        items: list[Mapping[str, Any]] = slot["items"]
        statuses = [str(item["status"]) for item in items]
        first_failure: int | None = None
        for i, item in enumerate(items):
            if statuses[i] == StepStatus.FAILED:
                if self.maybe_retry(cs, i, item):
                    statuses[i] = StepStatus.SCHEDULED.value
                elif first_failure is None:
                    first_failure = i
            elif statuses[i] == StepStatus.RUNNING:
                self.check_running(cs, i, item)
        limit = cs.step.max_parallel or len(items)
        in_flight = sum(s in (StepStatus.SCHEDULED, StepStatus.RUNNING) for s in statuses)
        scope = self.step_scope(cs)
        errors: dict[int, str] = {}
        for i, status in enumerate(statuses):
            if status != StepStatus.PENDING:
                continue
            if first_failure is not None:
                self.decisions.append(SkipStep(cs.id, f"item {first_failure} failed", i))
                statuses[i] = StepStatus.SKIPPED.value
            elif in_flight < limit:
                try:
                    value = self.defn.evaluate_with(
                        cs.id, scope.with_item(slot["item_values"][i], i)
                    )
                except ExpressionError as e:
                    self.decisions.append(FailStep(cs.id, i, 1, "expression", str(e), False))
                    statuses[i], first_failure, errors[i] = StepStatus.FAILED.value, i, str(e)
                    continue
                self.decisions.append(ScheduleStep(cs.id, i, 1, None, value))
                statuses[i] = StepStatus.SCHEDULED.value
                in_flight += 1
        if any(s not in STEP_DONE for s in statuses):
            return
        if first_failure is not None:
            error = items[first_failure]["error"] or {
                "kind": "expression",
                "message": errors.get(first_failure, ""),
            }
            message = f"item {first_failure} failed: {error['message']}"
            self.fail(cs, None, 1, str(error["kind"]), message, retryable=False)
        else:
            outputs = [item["output"] for item in items]
            self.decisions.append(CompleteStep(cs.id, None, 1, outputs))
            self.mark(cs.id, StepStatus.SUCCEEDED, outputs)

    def maybe_finish(self) -> None:
        if any(self.done_status(sid) is None for sid in self.defn.order):
            return
        if self.failing is not None:
            error = self.state.steps[self.failing]["error"] or {}
            message = error.get("message", "")
            self.decisions.append(
                FailRun(f"step '{self.failing}' failed: {message}", error.get("kind"))
            )
            return
        try:
            output = self.defn.evaluate_output(self.scope())
        except ExpressionError as e:
            self.decisions.append(FailRun(f"the run output could not be computed: {e}"))
            return
        self.decisions.append(CompleteRun(output))


def advance(
    run: Run,
    definition: CompiledDefinition,
    now: datetime,
    *,
    skill_configs: Mapping[str, Any] | None = None,
    max_rounds: int = 100,
) -> list[Decision]:
    """decide() and apply until nothing more follows; returns every decision made (unsaved)."""
    made: list[Decision] = []
    for _ in range(max_rounds):
        decisions = decide(RunView.of(run), definition, now, skill_configs=skill_configs)
        if not decisions:
            return made
        apply_decisions(run, decisions)
        made.extend(decisions)
    raise NoFixedPointError(run.id, max_rounds)  # a bug
