"""Commands of the ``Runs`` application about links between runs: signals, reruns, cascades.

- ``signal_run``: deliver a signal to the step waiting for it, or buffer it (``Run.signal``).
- ``rerun``: a new run of the same definition version reusing the outputs of every succeeded
  step not downstream of ``from_step`` (default: of the failed steps), linked by ``rerun_of``.
- ``with_cascade``: before any save, a child run whose parent step stopped waiting for it
  (the parent was cancelled, or the step timed out) is cancelled in the same save (and so on
  down the tree), so no child outlives the step that started it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4, uuid5

from eventsourcing.persistence import IntegrityError

from domain.kernel import validators as v
from domain.kernel.errors import ConflictError, NotFoundError, ValidationError
from domain.kernel.ids import NAMESPACE
from domain.runs.limits import too_large
from domain.runs.links import SIGNAL_NAME
from domain.runs.run import Run, RunStateError, RunStatus, StepStatus
from domain.runs.tasks import TaskChanges, run_tasks, task_changes

if TYPE_CHECKING:
    from domain.runs.application import RunPlanner


@dataclass(frozen=True)
class SendSignal:
    tenant_id: UUID | str
    run_id: UUID
    name: str
    payload: Any
    by: UUID | str


@dataclass(frozen=True)
class SignalSent:
    """Where a signal went: the step it completed, or None when it was buffered."""

    run: Run
    step_id: str | None
    index: int | None


@dataclass(frozen=True)
class RerunRun:
    """Rerun ``run_id`` with ``definition`` (its pinned version); ``input`` replaces the
    original input when ``new_input`` is set."""

    tenant_id: UUID | str
    run_id: UUID
    definition: dict[str, Any]
    started_by: UUID | str
    from_step: str | None = None
    new_input: bool = False
    input: Any = None
    idempotency_key: str | None = None
    traceparent: str | None = None  # W3C trace context of the span starting it (None: untraced)


class RerunKeyReusedError(ConflictError):
    """The Idempotency-Key already reran this run with another ``from_step`` or input."""

    def __init__(self, run_id: UUID, key: str) -> None:
        super().__init__(
            f"idempotency key {key!r} already reran this run as run {run_id} with another body",
            resource_type="run",
            resource_id=run_id,
        )
        self.run_id, self.key = run_id, key


def rerun_id_for(tenant_id: str, run_id: UUID, idempotency_key: str) -> UUID:
    """The id of the rerun an Idempotency-Key starts: a repeated rerun clashes on it."""
    return uuid5(NAMESPACE, f"rerun:{tenant_id}:{run_id}:{idempotency_key}")


@dataclass(frozen=True)
class Rerun:
    run: Run
    reused: list[str]
    replayed: bool = False


def downstream(definition: dict[str, Any], roots: set[str]) -> set[str]:
    """``roots`` and every step that needs one of them, directly or transitively."""
    steps = [s for s in definition.get("steps") or [] if isinstance(s, dict)]
    found, grew = set(roots), True
    while grew:
        grew = False
        for step in steps:
            if step.get("id") not in found and found & set(step.get("needs") or []):
                found.add(str(step["id"]))
                grew = True
    return found


def abandoned_children(run: Run) -> list[UUID]:
    """Child runs whose step this save stops waiting for (failed or cancelled meanwhile);
    some may have ended already (the caller skips those)."""
    found: list[UUID] = []
    for e in run.pending_events:
        if not isinstance(e, Run.StepFailed | Run.StepCancelled):
            continue
        step = run.steps[e.step_id]
        slots = [step] if e.index is None else [step["items"][e.index]]
        if e.index is None:
            slots += list(step.get("items") or [])
        # a retry recorded in the same save may have made the slot `scheduled` again: the
        # child of the attempt that failed is abandoned all the same (ended ones are skipped)
        found += [UUID(str(slot["child"])) for slot in slots if slot.get("child")]
    return found


def held_children(run: Run) -> tuple[str, list[UUID]] | None:
    """When this save pauses or resumes ``run``: ``("pause"|"resume", its children's ids``
    — every child run a step or item of it started and still waits for)."""
    turn = next((e for e in reversed(run.pending_events)
                 if isinstance(e, Run.Paused | Run.Resumed)), None)  # fmt: skip
    if turn is None:
        return None
    slots = [slot for step in run.steps.values() for slot in [step, *(step.get("items") or [])]]
    ids = [UUID(str(slot["child"])) for slot in slots
           if slot.get("child") and slot.get("status") == StepStatus.RUNNING]  # fmt: skip
    return ("pause" if isinstance(turn, Run.Paused) else "resume"), ids


class LinkCommands:
    """The ``Runs`` application's signal, rerun and cascade commands (a mixin of ``Runs``)."""

    if TYPE_CHECKING:
        planner: RunPlanner | None
        clock: Callable[[], Any]

        def load(self, run_id: UUID) -> Run: ...
        def get_run(self, tenant_id: UUID | str, run_id: UUID) -> Run: ...
        def save_runs(self, runs: Any, changes: TaskChanges | None = None) -> Any: ...
        def _planner(self) -> RunPlanner: ...
        def _command(self, tenant_id: UUID | str, run_id: UUID, change: Callable[[Run], None],
                     *, advance: bool, expected_version: int | None = None) -> Run: ...  # fmt: skip

    def signal_run(self, cmd: SendSignal) -> SignalSent:
        """Deliver a signal (its payload becomes the waiting step's output) or buffer it."""
        if not isinstance(cmd.name, str) or not SIGNAL_NAME.match(cmd.name):
            raise ValidationError.one(
                "/name", "a signal name is 1-100 letters, digits, '_', '.', ':' or '-'"
            )
        v.storable(cmd.payload, "")
        if (problem := too_large(cmd.payload, "the signal payload")) is not None:
            raise ValidationError.one("", problem[1])
        where: list[tuple[str, int | None] | None] = []

        def send(run: Run) -> None:
            where[:] = [run.signal(cmd.name, cmd.payload, by=str(cmd.by))]

        run = self._command(cmd.tenant_id, cmd.run_id, send, advance=True)
        step_id, index = where[0] if where and where[0] else (None, None)
        return SignalSent(run, step_id, index)

    def rerun(self, cmd: RerunRun) -> Rerun:
        """Start a new run of the original's definition version, reusing recorded outputs."""
        original = self.get_run(cmd.tenant_id, cmd.run_id)
        if not original.is_done:
            raise RunStateError(original.id, f"the run is {original.status}: rerun it once it ends")
        if cmd.from_step is not None and cmd.from_step not in original.steps:
            raise ValidationError.one("/from_step", f"the run has no step {cmd.from_step!r}")
        failed = {s for s, slot in original.steps.items() if slot["status"] == StepStatus.FAILED}
        again = downstream(cmd.definition, {cmd.from_step} if cmd.from_step else failed)
        reused = [
            sid for sid, slot in original.steps.items()
            if slot["status"] == StepStatus.SUCCEEDED and sid not in again
        ]  # fmt: skip
        value = cmd.input if cmd.new_input else original.input
        v.storable(value, "/input")
        schema = cmd.definition.get("input_schema")
        problems = v.schema_problems(value, schema, "/input") if isinstance(schema, dict) else []
        if cmd.new_input and problems:
            raise ValidationError(problems)
        planner = self._planner()
        prepared = planner.prepare(cmd.definition)
        if prepared.hash != original.definition_hash:
            raise RunStateError(original.id, "its workflow version changed: it cannot be rerun")
        from domain.runs.application import AdvanceDeferred

        key = cmd.idempotency_key
        if key:
            v.text(key, "/idempotency_key", max_len=255)
        now = self.clock()
        run_id = rerun_id_for(str(original.tenant_id), original.id, key) if key else uuid4()
        if key:
            earlier = self._earlier_rerun(run_id, value, reused, key)
            if earlier is not None:
                return earlier

        def record() -> Run:
            run = Run.start(
                tenant_id=original.tenant_id, workflow_id=original.workflow_id,
                workflow_version=original.workflow_version, definition_hash=prepared.hash,
                step_ids=prepared.step_ids, input=value, started_by=str(cmd.started_by),
                run_id=run_id, started_at=now, rerun_of=str(original.id), idempotency_key=key,
                traceparent=cmd.traceparent,
            )  # fmt: skip
            for sid in reused:
                run.reuse_step(sid, original.steps[sid]["output"], original.id)
            return run

        run = record()
        try:
            planner.advance(run, now)
        except AdvanceDeferred:
            run = record()  # a worker takes its start task and advances it
        try:
            self.save_runs([(run, {})])
        except IntegrityError:
            earlier = self._earlier_rerun(run_id, value, reused, key) if key else None
            if earlier is None:
                raise
            return earlier  # a concurrent rerun with the same key won the race
        return Rerun(run, reused)

    def _earlier_rerun(
        self, run_id: UUID, value: Any, reused: list[str], key: str
    ) -> Rerun | None:
        """The rerun this key already started (replayed), or None; another body is refused."""
        try:
            earlier = self.load(run_id)
        except NotFoundError:
            return None
        kept = sorted(sid for sid, slot in earlier.steps.items() if slot.get("reused"))
        if earlier.input != value or kept != sorted(reused):
            raise RerunKeyReusedError(earlier.id, key)
        return Rerun(earlier, kept, replayed=True)

    def with_cascade(
        self, runs: Sequence[Run], changes: TaskChanges
    ) -> tuple[list[Run], TaskChanges]:
        """``runs`` plus the child runs they abandon, cancelled, and the children of runs
        paused or resumed, paused or resumed alike (with their task changes)."""
        by_id = {run.id: run for run in runs}
        todo = list(runs)
        while todo:
            run = todo.pop()
            for child in self._children(by_id, abandoned_children(run)):
                before = run_tasks(child)
                parent = child.parent or {}
                child.cancel(f"its parent run {parent.get('run_id')} stopped waiting for it")
                child.notify_parent(delivered=False)
                changes = self._changed(changes, before, child)
                by_id[child.id] = child
                todo.append(child)
            held = held_children(run)
            for child in self._children(by_id, held[1] if held else []):
                before = run_tasks(child)
                if held and held[0] == "pause" and child.status == RunStatus.RUNNING:
                    child.pause()
                elif held and held[0] == "resume" and child.status == RunStatus.PAUSED:
                    child.resume()
                    if self.planner is not None:
                        self.planner.advance(child, self.clock())
                else:
                    continue
                changes = self._changed(changes, before, child)
                by_id[child.id] = child
                todo.append(child)
        return list(by_id.values()), changes

    def _children(self, by_id: dict[UUID, Run], ids: list[UUID]) -> Iterator[Run]:
        """The child runs of ``ids`` that have not ended (the ones in this save first)."""
        for child_id in ids:
            child = by_id.get(child_id)
            if child is None:
                try:
                    child = self.load(child_id)
                except NotFoundError:
                    continue
            if not child.is_done:
                yield child

    @staticmethod
    def _changed(changes: TaskChanges, before: Any, child: Run) -> TaskChanges:
        implied = task_changes(before, run_tasks(child))
        return changes.plus(implied.add, implied.done)
