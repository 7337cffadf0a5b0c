"""The Run's events: what each records and how it changes the run's state (``apply``).

``Run`` names each of them in its body (``Run.StepScheduled = StepScheduled``): the library then
defines ``Run.StepScheduled`` as the aggregate's own subclass, so stored topics stay
``domain.runs.run:Run.<Event>``. Event bodies read only the event: no clock, uuid or randomness.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from domain.kernel.base import PlatinumAggregate
from domain.runs.run_data import erase_state
from domain.runs.status import STEP_DONE, RunStatus, StepStatus

if TYPE_CHECKING:
    from domain.runs.run import Run


def new_slot() -> dict[str, Any]:
    return {
        "status": StepStatus.PENDING.value, "attempt": 0, "lost": 0, "input": None,
        "output": None, "error": None, "reason": None, "not_before": None, "failed_at": None,
        "worker_id": None, "waiting": None,
    }  # fmt: skip


class StepEvent(PlatinumAggregate.Event):
    step_id: str
    index: int | None

    def slot(self, run: Run) -> dict[str, Any]:
        step = run.steps[self.step_id]
        return step if self.index is None else step["items"][self.index]


class StepScheduled(StepEvent):
    attempt: int
    not_before: datetime | None
    input: Any

    def apply(self, run: Run) -> None:
        slot = self.slot(run)
        slot.update(status=StepStatus.SCHEDULED.value, attempt=self.attempt, input=self.input)
        slot.update(not_before=self.not_before, error=None, token=None)


class RetryScheduled(StepEvent):
    attempt: int
    not_before: datetime | None

    def apply(self, run: Run) -> None:
        slot = self.slot(run)
        slot.update(status=StepStatus.SCHEDULED.value, attempt=self.attempt)
        slot.update(not_before=self.not_before, worker_id=None, token=None)


class StepStarted(StepEvent):
    """A worker holds the attempt under fencing token ``token`` (None: no lease, e.g. an
    inline kind, or an event recorded before tokens existed). ``lease_until`` is when the
    worker's first lease was to end, recorded for the read model only: the queue's lease
    (renewed by the worker's heartbeat) decides whether the worker is alive, not the run."""

    attempt: int
    worker_id: str
    lease_until: datetime | None = None
    token: int | None = None

    def apply(self, run: Run) -> None:
        slot = self.slot(run)
        slot.update(status=StepStatus.RUNNING.value, worker_id=self.worker_id)
        slot["not_before"] = None
        slot["token"] = getattr(self, "token", None)  # absent from events before tokens


class StepWaiting(StepEvent):
    """The attempt waits: ``kind`` approval, wait, signal (``name``) or workflow (the child
    run ``child_run_id``; absent, like ``name``, from older events)."""

    attempt: int
    kind: str
    until: datetime | None
    role: str | None
    name: str | None = None
    child_run_id: str | None = None

    def apply(self, run: Run) -> None:
        slot = self.slot(run)
        slot["waiting"] = {"kind": self.kind, "until": self.until, "role": self.role}
        if self.name is not None:
            slot["waiting"]["name"] = self.name
        if self.child_run_id is not None:
            slot["waiting"]["child_run_id"] = slot["child"] = self.child_run_id


class StepSucceeded(StepEvent):
    attempt: int
    output: Any

    def apply(self, run: Run) -> None:
        slot = self.slot(run)
        slot.update(status=StepStatus.SUCCEEDED.value, output=self.output, error=None)
        slot["waiting"] = None


class StepFailed(StepEvent):
    attempt: int
    error_kind: str
    message: str
    retryable: bool
    retry_after_s: float | None = None  # the target's Retry-After; absent in older events

    def apply(self, run: Run) -> None:
        slot = self.slot(run)
        slot.update(status=StepStatus.FAILED.value, attempt=self.attempt, waiting=None)
        slot["failed_at"] = self.timestamp
        slot["error"] = {
            "kind": self.error_kind,
            "message": self.message,
            "retryable": self.retryable,
        }
        if self.retry_after_s is not None:
            slot["error"]["retry_after_s"] = self.retry_after_s
        if self.error_kind == "lease_expired":
            slot["lost"] += 1


class StepSkipped(StepEvent):
    reason: str

    def apply(self, run: Run) -> None:
        self.slot(run).update(status=StepStatus.SKIPPED.value, reason=self.reason)


class StepCancelled(StepEvent):
    reason: str

    def apply(self, run: Run) -> None:
        slot = self.slot(run)
        slot.update(status=StepStatus.CANCELLED.value, reason=self.reason, waiting=None)
        for item in slot.get("items") or ():
            if item["status"] not in STEP_DONE:
                item.update(status=StepStatus.CANCELLED.value, reason=self.reason)


class ForeachExpanded(StepEvent):
    count: int
    items: list[Any]

    def apply(self, run: Run) -> None:
        slot = self.slot(run)
        slot.update(status=StepStatus.RUNNING.value, attempt=1, item_values=self.items)
        slot["items"] = [new_slot() for _ in range(self.count)]


class Approved(StepEvent):
    by: str
    comment: str | None

    def apply(self, run: Run) -> None:
        slot = self.slot(run)
        slot.update(status=StepStatus.SUCCEEDED.value, waiting=None)
        slot["output"] = {"approved": True, "by": self.by, "comment": self.comment}


class Rejected(StepEvent):
    by: str
    comment: str | None

    def apply(self, run: Run) -> None:
        slot = self.slot(run)
        slot.update(status=StepStatus.FAILED.value, waiting=None, failed_at=self.timestamp)
        note = f": {self.comment}" if self.comment else ""
        slot["error"] = {"kind": "rejected", "message": f"rejected by {self.by}{note}",
                         "retryable": False}  # fmt: skip


class Paused(PlatinumAggregate.Event):
    def apply(self, run: Run) -> None:
        run.status = RunStatus.PAUSED.value


class Resumed(PlatinumAggregate.Event):
    def apply(self, run: Run) -> None:
        run.status = RunStatus.RUNNING.value


class Succeeded(PlatinumAggregate.Event):
    output: Any

    def apply(self, run: Run) -> None:
        run.status, run.output, run.ended_at = (
            RunStatus.SUCCEEDED.value,
            self.output,
            self.timestamp,
        )


class Failed(PlatinumAggregate.Event):
    reason: str
    error_kind: str | None = None  # the failing step's error kind; absent in older events

    def apply(self, run: Run) -> None:
        run.status, run.reason, run.ended_at = (
            RunStatus.FAILED.value,
            self.reason,
            self.timestamp,
        )
        run.error_kind = self.error_kind


class Cancelled(PlatinumAggregate.Event):
    reason: str

    def apply(self, run: Run) -> None:
        run.status, run.reason, run.ended_at = (
            RunStatus.CANCELLED.value,
            self.reason,
            self.timestamp,
        )


class DataShredded(PlatinumAggregate.Event):
    """Retention destroyed the finished run's data key (``retention_days``: the tenant's
    setting that applied): its input, step inputs and outputs, output and error texts read
    ``[erased]`` from now on (``domain.runs.run_data``)."""

    retention_days: int | None

    def apply(self, run: Run) -> None:
        erase_state(run.__dict__)
        run.data_shredded = True


# ------------------------------------------------------------------ composition (links.py)


class ChildEnded(StepEvent):
    """The child run a ``workflow:`` step waited for ended: its output, or its error."""

    attempt: int
    child_run_id: str
    status: str
    output: Any
    error_kind: str | None
    message: str | None
    retryable: bool

    def apply(self, run: Run) -> None:
        slot = self.slot(run)
        slot.update(waiting=None)
        if self.status == RunStatus.SUCCEEDED:
            slot.update(status=StepStatus.SUCCEEDED.value, output=self.output, error=None)
            return
        slot.update(status=StepStatus.FAILED.value, failed_at=self.timestamp)
        slot["error"] = {"kind": self.error_kind or "child_failed", "message": self.message or "",
                         "retryable": self.retryable}  # fmt: skip


class ParentNotified(PlatinumAggregate.Event):
    """A child run's end was told to its parent (``delivered``: the parent still waited)."""

    delivered: bool

    def apply(self, run: Run) -> None:
        run.reported = True


class Signalled(PlatinumAggregate.Event):
    """A signal arrived: it completes the waiting ``signal`` step ``step_id`` (its output is the
    payload), or, when none waits (``step_id`` None), it is buffered for the first that will."""

    name: str
    payload: Any
    by: str
    step_id: str | None
    index: int | None

    def apply(self, run: Run) -> None:
        if self.step_id is None:
            run.signals = [*run.signals, {"name": self.name, "payload": self.payload}]
            return
        step = run.steps[self.step_id]
        slot = step if self.index is None else step["items"][self.index]
        slot.update(status=StepStatus.SUCCEEDED.value, output=self.payload, waiting=None)


class SignalTaken(StepEvent):
    """A waiting ``signal`` step took the oldest buffered signal of its name (``payload``)."""

    attempt: int
    name: str
    payload: Any

    def apply(self, run: Run) -> None:
        at = next(i for i, s in enumerate(run.signals) if s["name"] == self.name)
        run.signals = [s for i, s in enumerate(run.signals) if i != at]
        slot = self.slot(run)
        slot.update(status=StepStatus.SUCCEEDED.value, output=self.payload, waiting=None)


class StepReused(StepEvent):
    """A rerun took the output the step recorded in run ``reused_from`` (it is not run)."""

    output: Any
    reused_from: str

    def apply(self, run: Run) -> None:
        slot = self.slot(run)
        slot.update(status=StepStatus.SUCCEEDED.value, output=self.output, reused=self.reused_from)
