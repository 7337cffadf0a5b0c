"""The work a run's state implies (``run_tasks``) and what one save changes in the queue.

The work queue is derived data: ``run_tasks`` is a pure function of a run's state, and every
save of runs carries one ``TaskChanges`` value, the difference between the tasks before and
after, plus what the saving worker asks of the queue (rows it takes for itself, leases it gives
back, leases the commit depends on). The engine's recorder writes it in the same transaction as
the events; the domain only computes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.runs.run import RUN_DONE, Run, RunStatus, StepStatus

TaskKey = tuple[UUID, str, int | None]
"""(run id, step id, foreach index or None): one row of the work queue."""

Fence = tuple[TaskKey, int, int]
"""(task key, attempt, fencing token): a lease a save's commit depends on."""


@dataclass(frozen=True)
class RunTask:
    """A work item a run's state implies: ``step`` = execute this attempt, ``timer`` = wake the
    run at ``ready_at`` (a ``wait`` step, an approval deadline). ``ready_at`` None means now."""

    run_id: UUID
    tenant_id: str
    step_id: str
    index: int | None
    attempt: int
    kind: str
    ready_at: datetime | None

    @property
    def key(self) -> TaskKey:
        return (self.run_id, self.step_id, self.index)


START_TASK_STEP = ""
"""The ``step_id`` of a run's start task: a ``timer`` due now that has a worker advance a run
whose start was recorded alone (every step still pending, or reused by a rerun). A child run
that ended keeps a timer of the same key, its *report task*, until its parent was told."""


def run_tasks(run: Run) -> dict[TaskKey, RunTask]:
    """The tasks implied by the run's state (a pure function: the work queue is derived data)."""
    if run.status in RUN_DONE:
        if not run.needs_report:
            return {}
        report = RunTask(run.id, run.tenant_id, START_TASK_STEP, None, 0, "timer", None)
        return {report.key: report}
    paused = run.status == RunStatus.PAUSED
    tasks: dict[TaskKey, RunTask] = {}
    if run.status == RunStatus.RUNNING and all(
        step["status"] == StepStatus.PENDING or step.get("reused") for step in run.steps.values()
    ):
        start = RunTask(run.id, run.tenant_id, START_TASK_STEP, None, 0, "timer", None)
        return {start.key: start}
    for step_id, step in run.steps.items():
        items = step.get("items")
        slots: Iterable[tuple[int | None, Mapping[str, Any]]] = (
            [(None, step)] if items is None else list(enumerate(items))
        )
        for index, slot in slots:
            task = _slot_task(run, step_id, index, slot, paused=paused)
            if task is not None:
                tasks[task.key] = task
    return tasks


def _slot_task(
    run: Run, step_id: str, index: int | None, slot: Mapping[str, Any], *, paused: bool
) -> RunTask | None:
    status, attempt = slot["status"], int(slot["attempt"])
    if status == StepStatus.SCHEDULED:
        kind, ready_at = "step", slot["not_before"]
    elif status == StepStatus.RUNNING and slot.get("items") is None:
        waiting = slot["waiting"]
        if waiting is None:  # started but not finished (no result recorded): run it again
            kind, ready_at = "step", None
        elif waiting["until"] is None or paused:  # approvals without deadline; paused timers
            return None
        else:
            kind, ready_at = "timer", waiting["until"]
    else:
        return None
    return RunTask(run.id, run.tenant_id, step_id, index, attempt, kind, ready_at)


@dataclass(frozen=True)
class TaskChanges:
    """What one save does to the work queue, in the transaction of its events.

    ``add``: rows to insert (or replace); ``done``: rows to delete (only if still at that
    attempt); ``lease_to``: the saving worker, which takes the added rows in ``leased`` for
    itself (inserted already leased for ``lease_s`` seconds, first fencing token);
    ``release``: leases of ``lease_to`` given back, each ready again after its delay in
    seconds; ``fences``: leases the commit depends on (the save fails if one was lost).
    """

    add: tuple[RunTask, ...] = ()
    done: tuple[RunTask, ...] = ()
    lease_to: str | None = None
    leased: frozenset[TaskKey] = frozenset()
    lease_s: float = 30.0
    release: tuple[tuple[TaskKey, float], ...] = ()
    fences: tuple[Fence, ...] = ()

    def plus(self, add: Iterable[RunTask], done: Iterable[RunTask]) -> TaskChanges:
        """These changes with more rows to add and to delete."""
        return TaskChanges(
            (*self.add, *add), (*self.done, *done), self.lease_to, self.leased, self.lease_s,
            self.release, self.fences,
        )  # fmt: skip


def task_changes(
    before: Mapping[TaskKey, RunTask], after: Mapping[TaskKey, RunTask]
) -> TaskChanges:
    """The rows to add and to delete to go from the tasks ``before`` to the tasks ``after``."""
    add = tuple(t for k, t in after.items() if before.get(k) != t)
    done = tuple(t for k, t in before.items() if after.get(k) != t)
    return TaskChanges(add, done)
