"""The Run aggregate: one execution of a pinned workflow version, as a stream of events.

A worker loads a run, applies a step result (`complete_step` / `fail_step`), asks the scheduler
what follows, records those decisions with the commands below and saves ONCE: every command
only appends pending events, so one decision's events (and a whole cascade of them) go to the
store in a single `app.save(run)`.

State is plain JSON data (dicts, lists, strings, numbers, datetimes) so snapshots transcode.
Event bodies (`apply`) read only the event: no clock, uuid or randomness.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from domain.kernel.base import PlatinumAggregate
from domain.kernel.errors import NotFoundError
from domain.runs import events
from domain.runs.guards import RunGuards
from domain.runs.limits import MAX_OUTPUT_BYTES, is_traceparent, storable_text, too_large
from domain.runs.links import RunLinks
from domain.runs.status import (
    RUN_DONE,
    STEP_DONE,
    RunStateError,
    RunStatus,
    StaleStepResultError,
    StepStatus,
)  # fmt: skip

__all__ = [
    "MAX_OUTPUT_BYTES", "RUN_DONE", "STEP_DONE", "Run", "RunStateError", "RunStatus",
    "StaleStepResultError", "StepStatus",
]  # fmt: skip
"""The aggregate, and the statuses and errors its users need with it (from ``status``)."""


class Run(RunLinks, RunGuards, PlatinumAggregate):
    """A workflow run. `steps[id]` is a slot dict; a foreach step's slot has `items` slots."""

    class Started(PlatinumAggregate.Created):
        tenant_id: str
        workflow_id: str
        workflow_version: int
        definition_hash: str
        step_ids: list[str]
        input: Any
        started_by: str
        idempotency_key: str | None
        parent: dict[str, Any] | None = None  # the step that started this child run
        depth: int = 0
        rerun_of: str | None = None
        trigger: dict[str, Any] | None = None  # {"kind": "schedule", ...}; older events lack it
        traceparent: str | None = None  # W3C trace context of the start; older events lack it

    traceparent: str | None = None
    """The W3C ``traceparent`` of the span that started the run (None: not traced); the
    worker's step spans are its children (docs/observability.md). A class default, so runs
    restored from snapshots taken before the field have it too."""

    StepEvent = events.StepEvent
    StepScheduled = events.StepScheduled
    RetryScheduled = events.RetryScheduled
    StepStarted = events.StepStarted
    StepWaiting = events.StepWaiting
    StepSucceeded = events.StepSucceeded
    StepFailed = events.StepFailed
    StepSkipped = events.StepSkipped
    StepCancelled = events.StepCancelled
    ForeachExpanded = events.ForeachExpanded
    Approved = events.Approved
    Rejected = events.Rejected
    Paused = events.Paused
    Resumed = events.Resumed
    Succeeded = events.Succeeded
    Failed = events.Failed
    Cancelled = events.Cancelled
    ChildEnded = events.ChildEnded
    ParentNotified = events.ParentNotified
    Signalled = events.Signalled
    SignalTaken = events.SignalTaken
    StepReused = events.StepReused
    DataShredded = events.DataShredded
    data_shredded = False  # set by DataShredded (absent from older states)

    def __init__(
        self,
        tenant_id: str,
        workflow_id: str,
        workflow_version: int,
        definition_hash: str,
        step_ids: list[str],
        input: Any,
        started_by: str,
        idempotency_key: str | None,
        parent: dict[str, Any] | None = None,
        depth: int = 0,
        rerun_of: str | None = None,
        trigger: dict[str, Any] | None = None,
        traceparent: str | None = None,
    ) -> None:
        self.parent, self.depth, self.rerun_of = parent, depth, rerun_of
        self.traceparent = traceparent
        self.tenant_id = tenant_id
        self.workflow_id = workflow_id
        self.workflow_version = workflow_version
        self.definition_hash = definition_hash
        self.input = input
        self.started_by = started_by
        self.idempotency_key = idempotency_key
        self.trigger = trigger
        self.started_at: datetime = self.created_on
        self.status: str = RunStatus.RUNNING.value
        self.steps: dict[str, dict[str, Any]] = {sid: events.new_slot() for sid in step_ids}
        self.output: Any = None
        self.reason: str | None = None
        self.ended_at: datetime | None = None

    # ---------------------------------------------------------------- commands: lifecycle

    @classmethod
    def start(
        cls,
        *,
        tenant_id: str,
        workflow_id: str,
        workflow_version: int,
        definition_hash: str,
        step_ids: list[str],
        input: Any,
        started_by: str,
        idempotency_key: str | None = None,
        run_id: UUID | None = None,
        started_at: datetime | None = None,
        **links: Any,
    ) -> Run:
        """Start a run of a pinned workflow version (the definition is known by its hash).

        ``started_at`` is the Started event's timestamp (default: now); ``links``: ``parent``
        and ``depth`` of a child run, ``rerun_of`` of a rerun, ``trigger``, ``traceparent``
        (``Run.Started``; a ``traceparent`` that is not W3C's form is not recorded)."""
        if len(set(step_ids)) != len(step_ids) or not step_ids:
            raise ValueError("step_ids must be unique and not empty")
        if (problem := too_large(input, "the run input")) is not None:
            raise ValueError(problem[1])
        if not is_traceparent(links.get("traceparent")):
            links.pop("traceparent", None)  # tracing is never a reason to refuse a start
        run: Run = cls._create(
            cls.Started,
            id=run_id or uuid4(),
            tenant_id=tenant_id,
            workflow_id=workflow_id,
            workflow_version=workflow_version,
            definition_hash=definition_hash,
            step_ids=list(step_ids),
            input=input,
            started_by=started_by,
            idempotency_key=idempotency_key,
            timestamp=started_at,
            **{k: v for k, v in links.items() if v is not None},
        )
        return run

    @property
    def is_done(self) -> bool:
        return self.status in RUN_DONE

    def pause(self) -> None:
        """Stop scheduling new work; steps already scheduled or running may finish."""
        self._require(self.status == RunStatus.RUNNING, f"cannot pause a {self.status} run")
        self.trigger_event(self.Paused)

    def resume(self) -> None:
        self._require(self.status == RunStatus.PAUSED, f"cannot resume a {self.status} run")
        self.trigger_event(self.Resumed)

    def cancel(self, reason: str = "cancelled") -> None:
        """Cancel every unfinished step (running workers' late results are then refused)."""
        self._require(not self.is_done, f"cannot cancel a {self.status} run")
        for sid, slot in self.steps.items():
            if slot["status"] not in STEP_DONE:
                self.trigger_event(self.StepCancelled, step_id=sid, index=None, reason=reason)
        self.trigger_event(self.Cancelled, reason=reason)

    def succeed(self, output: Any) -> None:
        """End the run successfully; an oversized output fails it instead."""
        self._require(not self.is_done, f"cannot complete a {self.status} run")
        if (problem := too_large(output, "the run output")) is not None:
            self.trigger_event(self.Failed, reason=problem[1])
        else:
            self.trigger_event(self.Succeeded, output=output)

    def fail(self, reason: str, error_kind: str | None = None) -> None:
        """End the run failed; ``error_kind``: the kind of the error that failed it."""
        self._require(not self.is_done, f"cannot fail a {self.status} run")
        self.trigger_event(self.Failed, reason=storable_text(reason), error_kind=error_kind)

    def shred_data(self, retention_days: int | None = None) -> bool:
        """Record that the finished run's data key goes (retention); False if it went."""
        self._require(self.is_done, f"cannot shred the data of a {self.status} run")
        if self.data_shredded:
            return False
        self.trigger_event(self.DataShredded, retention_days=retention_days)
        return True

    # ---------------------------------------------------------------- commands: steps

    def slot(self, step_id: str, index: int | None = None) -> dict[str, Any]:
        """The state of a step (or of one foreach item); raises NotFoundError."""
        try:
            step = self.steps[step_id]
            return step if index is None else step["items"][index]
        except (KeyError, IndexError, TypeError):
            where = step_id if index is None else f"{step_id}[{index}]"
            raise NotFoundError("step", f"{self.id}/{where}") from None

    def schedule_step(
        self, step_id: str, index: int | None, attempt: int, not_before: datetime | None, input: Any
    ) -> None:
        """Schedule a pending step's first attempt with its evaluated input."""
        slot = self._active_slot(step_id, index, {StepStatus.PENDING})
        if (problem := too_large(input, "the step input")) is not None:
            self.trigger_event(
                self.StepFailed, step_id=step_id, index=index, attempt=max(attempt, 1),
                error_kind=problem[0], message=problem[1], retryable=False,
            )  # fmt: skip
            return
        self._require(attempt == slot["attempt"] + 1, f"attempt {attempt} out of sequence")
        self.trigger_event(
            self.StepScheduled, step_id=step_id, index=index, attempt=attempt,
            not_before=not_before, input=input,
        )  # fmt: skip

    def schedule_retry(
        self, step_id: str, index: int | None, attempt: int, not_before: datetime | None
    ) -> None:
        slot = self._active_slot(step_id, index, {StepStatus.FAILED})
        self._require(attempt == slot["attempt"] + 1, f"attempt {attempt} out of sequence")
        self.trigger_event(
            self.RetryScheduled,
            step_id=step_id,
            index=index,
            attempt=attempt,
            not_before=not_before,
        )

    def start_step(
        self,
        step_id: str,
        index: int | None,
        attempt: int,
        worker_id: str,
        lease_until: datetime | None = None,
        *,
        token: int | None = None,
    ) -> None:
        """A worker took the attempt under fencing token ``token``: the step is ``running``
        (``lease_until``: when that lease was to end, for the read model; see StepStarted).

        A running attempt is started again only by a later claim (a larger token: its
        holder lost the lease); anything else is a ``StaleStepResultError``.
        """
        slot = self._current_attempt(
            step_id, index, attempt, {StepStatus.SCHEDULED, StepStatus.RUNNING}
        )
        if slot["status"] == StepStatus.RUNNING:
            held = slot.get("token")
            if token is None or (held is not None and token <= held) or slot["waiting"]:
                why = f"the attempt is already running under token {held}"
                raise StaleStepResultError(self.id, step_id, index, attempt, why)
        self.trigger_event(
            self.StepStarted, step_id=step_id, index=index, attempt=attempt,
            worker_id=worker_id, lease_until=lease_until, token=token,
        )  # fmt: skip

    def wait_step(
        self,
        step_id: str,
        index: int | None,
        attempt: int,
        *,
        kind: str,
        until: datetime | None,
        role: str | None = None,
        worker_id: str = "",
        token: int | None = None,
        name: str | None = None,
        child_run_id: str | None = None,
    ) -> None:
        """A step now waits (``until``: wake-up time or deadline): ``approval`` (``role``),
        ``wait``, ``signal`` (``name``) or ``workflow`` (its child run ``child_run_id``)."""
        waits = ("approval", "wait", "signal", "workflow")
        self._require(kind in waits, f"cannot wait for {kind!r}")
        self._implicit_start(step_id, index, attempt, worker_id, token)
        extra = {k: v for k, v in (("name", name), ("child_run_id", child_run_id)) if v}
        self.trigger_event(
            self.StepWaiting, step_id=step_id, index=index, attempt=attempt,
            kind=kind, until=until, role=role, **extra,
        )  # fmt: skip

    def complete_step(
        self,
        step_id: str,
        index: int | None,
        attempt: int,
        output: Any,
        *,
        worker_id: str = "",
        token: int | None = None,
    ) -> None:
        """Record an attempt's success; an oversized or non-JSON output fails it instead.

        ``token``: the fencing token the result was produced under (see ``_implicit_start``).
        """
        self._implicit_start(step_id, index, attempt, worker_id, token)
        if (problem := too_large(output, "the step output")) is not None:
            self.trigger_event(
                self.StepFailed, step_id=step_id, index=index, attempt=attempt,
                error_kind=problem[0], message=problem[1], retryable=False,
            )  # fmt: skip
        else:
            self.trigger_event(
                self.StepSucceeded, step_id=step_id, index=index, attempt=attempt, output=output
            )

    def fail_step(
        self,
        step_id: str,
        index: int | None,
        attempt: int,
        *,
        error_kind: str,
        message: str,
        retryable: bool,
        worker_id: str = "",
        retry_after_s: float | None = None,
        token: int | None = None,
    ) -> None:
        """Record an attempt's failure. A pending step fails directly (e.g. its `if` errs).

        ``retry_after_s``: the target asked to be retried no sooner (HTTP ``Retry-After``).
        """
        slot = self._active_slot(
            step_id, index, {StepStatus.PENDING, StepStatus.SCHEDULED, StepStatus.RUNNING}
        )
        if slot["status"] != StepStatus.PENDING:
            self._implicit_start(step_id, index, attempt, worker_id, token)
        hint = {} if retry_after_s is None else {"retry_after_s": max(0.0, float(retry_after_s))}
        self.trigger_event(
            self.StepFailed, step_id=step_id, index=index, attempt=attempt,
            error_kind=error_kind, message=storable_text(message[:4000]), retryable=retryable,
            **hint,
        )  # fmt: skip

    def skip_step(self, step_id: str, index: int | None, reason: str) -> None:
        self._active_slot(step_id, index, {StepStatus.PENDING})
        self.trigger_event(self.StepSkipped, step_id=step_id, index=index, reason=reason)

    def expand_foreach(self, step_id: str, items: list[Any]) -> None:
        """A foreach step is now running over `items` (each becomes a pending item slot)."""
        self._active_slot(step_id, None, {StepStatus.PENDING})
        if (problem := too_large(items, "the foreach items")) is not None:
            self.trigger_event(
                self.StepFailed, step_id=step_id, index=None, attempt=1,
                error_kind=problem[0], message=problem[1], retryable=False,
            )  # fmt: skip
            return
        self.trigger_event(
            self.ForeachExpanded, step_id=step_id, index=None, count=len(items), items=list(items)
        )

    def approve(
        self, step_id: str, *, by: str, comment: str | None = None, index: int | None = None
    ) -> None:
        """Approve a waiting `approval` step (role checks are the caller's job)."""
        self._waiting_approval(step_id, index)
        self.trigger_event(self.Approved, step_id=step_id, index=index, by=by, comment=comment)

    def reject(
        self, step_id: str, *, by: str, comment: str | None = None, index: int | None = None
    ) -> None:
        self._waiting_approval(step_id, index)
        self.trigger_event(self.Rejected, step_id=step_id, index=index, by=by, comment=comment)
