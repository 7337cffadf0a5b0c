"""A run's and a step's statuses, and the error of a command that does not fit the run's state."""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from domain.kernel.errors import ConflictError


class StepStatus(StrEnum):
    PENDING = "pending"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


class RunStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    PAUSED = "paused"


STEP_DONE = frozenset(
    {StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.SKIPPED, StepStatus.CANCELLED}
)
RUN_DONE = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED})


class RunStateError(ConflictError):
    """A command does not fit the run's state (e.g. approving a step that is not waiting)."""

    def __init__(self, run_id: UUID, message: str) -> None:
        self.run_id = run_id
        super().__init__(f"run {run_id}: {message}", resource_type="run", resource_id=run_id)


class StaleStepResultError(RunStateError):
    """A result for an attempt that is no longer current (late worker, duplicate delivery)."""

    def __init__(
        self, run_id: UUID, step_id: str, index: int | None, attempt: int, why: str
    ) -> None:
        self.step_id = step_id
        self.index = index
        self.attempt = attempt
        where = step_id if index is None else f"{step_id}[{index}]"
        super().__init__(run_id, f"step {where} attempt {attempt}: {why}")
