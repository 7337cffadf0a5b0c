"""The Run's links to other runs and to the outside: child runs, signals, reused outputs.

A ``workflow:`` step waits for a child run (``StepWaiting.child_run_id``); the child's end is
told to the parent (``end_child`` on the parent, ``notify_parent`` on the child, in one save).
A ``signal`` step waits for ``signal(name, payload)``; a signal nobody waits for yet is
buffered (at most ``MAX_BUFFERED_SIGNALS``) and taken by the first ``signal`` step of that name
that waits (``take_signal``, a scheduler decision). A rerun records the outputs it reuses with
``reuse_step`` before its first advance (mixin of ``domain.runs.run.Run``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from uuid import UUID

from domain.kernel.errors import NotFoundError
from domain.runs.limits import storable_text, too_large
from domain.runs.status import RUN_DONE, RunStatus, StepStatus

MAX_DEPTH = 5
"""How deep runs may nest: a top-level run is at depth 0, its children at 1, ... (a cycle of
sub-workflows A -> B -> A stops here at run time)."""
MAX_BUFFERED_SIGNALS = 100
"""Signals a run keeps for ``signal`` steps that do not wait yet."""
SIGNAL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")


class RunLinks:
    """Commands of ``Run`` about other runs and signals (a mixin; events in ``events``)."""

    parent: dict[str, Any] | None = None
    """{run_id, step_id, index, attempt} of the step that started this run, or None."""
    depth: int = 0
    rerun_of: str | None = None
    signals: list[dict[str, Any]] = []
    reported: bool = False
    error_kind: str | None = None

    if TYPE_CHECKING:  # what the mixin uses of ``Run``
        id: UUID
        status: str
        steps: dict[str, dict[str, Any]]
        output: Any
        reason: str | None
        ChildEnded: Any
        ParentNotified: Any
        Signalled: Any
        SignalTaken: Any
        StepReused: Any

        @property
        def is_done(self) -> bool: ...

        def slot(self, step_id: str, index: int | None = None) -> dict[str, Any]: ...

        def trigger_event(self, event_class: Any, **kwargs: Any) -> None: ...

        def _require(self, condition: bool, message: str) -> None: ...

    # -- children

    @property
    def needs_report(self) -> bool:
        """A child run that ended and has not told its parent yet."""
        return self.parent is not None and self.status in RUN_DONE and not self.reported

    def waits_for_child(self, step_id: str, index: int | None, child_id: UUID) -> int | None:
        """The attempt of the step slot waiting for child run ``child_id``, if one does."""
        if self.is_done:
            return None
        try:
            slot = self.slot(step_id, index)
        except NotFoundError:
            return None
        waiting = slot.get("waiting") or {}
        if slot["status"] != StepStatus.RUNNING or waiting.get("child_run_id") != str(child_id):
            return None
        return int(slot["attempt"])

    def end_child(self, child: RunLinks) -> None:
        """Record the end of ``child`` on the step waiting for it (its output or its error)."""
        link = child.parent or {}
        step_id, index = str(link.get("step_id")), link.get("index")
        attempt = self.waits_for_child(step_id, index, child.id)
        self._require(attempt is not None, f"no step waits for child run {child.id}")
        ok = child.status == RunStatus.SUCCEEDED
        problem = too_large(child.output, "the child run's output") if ok else None
        if problem is not None:
            ok, kind, message = False, problem[0], problem[1]
        elif child.status == RunStatus.CANCELLED:
            kind, message = "cancelled", f"child run {child.id} was cancelled: {child.reason}"
        else:
            kind = child.error_kind or "child_failed"
            message = f"child run {child.id} failed: {child.reason}"
        self.trigger_event(
            self.ChildEnded, step_id=step_id, index=index, attempt=attempt,
            child_run_id=str(child.id), status=RunStatus.SUCCEEDED.value if ok else child.status,
            output=child.output if ok else None, error_kind=None if ok else kind,
            message=None if ok else storable_text(message[:4000]),
            retryable=not ok and child.status == RunStatus.FAILED and kind != "depth",
        )  # fmt: skip

    def notify_parent(self, *, delivered: bool) -> None:
        """This child's end has been told to its parent (or the parent no longer waited)."""
        self._require(self.needs_report, "nothing to tell a parent run")
        self.trigger_event(self.ParentNotified, delivered=delivered)

    # -- signals

    def signal(self, name: str, payload: Any, *, by: str) -> tuple[str, int | None] | None:
        """Deliver a signal to the first step waiting for it (returned), else buffer it."""
        self._require(not self.is_done, f"the run is {self.status}: it takes no signal")
        for step_id, step in self.steps.items():
            items = step.get("items")
            slots = [(None, step)] if items is None else list(enumerate(items))
            for index, slot in slots:
                waiting = slot.get("waiting") or {}
                running = slot["status"] == StepStatus.RUNNING
                if running and waiting.get("kind") == "signal" and waiting.get("name") == name:
                    self.trigger_event(self.Signalled, name=name, payload=payload, by=by,
                                       step_id=step_id, index=index)  # fmt: skip
                    return step_id, index
        self._require(
            len(self.signals) < MAX_BUFFERED_SIGNALS,
            f"{MAX_BUFFERED_SIGNALS} signals already wait for a step: no more are kept",
        )
        self.trigger_event(self.Signalled, name=name, payload=payload, by=by, step_id=None,
                           index=None)  # fmt: skip
        return None

    def take_signal(self, step_id: str, index: int | None, attempt: int, name: str) -> None:
        """A waiting ``signal`` step takes the oldest buffered signal of its name."""
        slot = self.slot(step_id, index)
        waiting = slot.get("waiting") or {}
        self._require(
            slot["status"] == StepStatus.RUNNING and waiting.get("name") == name
            and int(slot["attempt"]) == attempt and any(s["name"] == name for s in self.signals),
            f"step {step_id} cannot take a signal {name!r}",
        )  # fmt: skip
        payload = next(s["payload"] for s in self.signals if s["name"] == name)
        self.trigger_event(self.SignalTaken, step_id=step_id, index=index, attempt=attempt,
                           name=name, payload=payload)  # fmt: skip

    # -- reruns

    def reuse_step(self, step_id: str, output: Any, reused_from: UUID) -> None:
        """Record a pending step as succeeded with an earlier run's output (before any advance)."""
        slot = self.slot(step_id)
        self._require(slot["status"] == StepStatus.PENDING, f"step {step_id} is not pending")
        self.trigger_event(self.StepReused, step_id=step_id, index=None, output=output,
                           reused_from=str(reused_from))  # fmt: skip
