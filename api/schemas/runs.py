"""Request and response models of runs: start, cancel, approval decisions, a run, its events."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from api.schemas import Strict
from engine.definition.dsl import STEP_ID_PATTERN

RunStatus = Literal["pending", "running", "succeeded", "failed", "cancelled", "paused"]


class RunCreate(Strict):
    input: Any = Field(default=None, description="Validated against the workflow's input_schema.")


class RunAccepted(BaseModel):
    id: UUID
    status: str
    workflow_version: int


class RunCancel(Strict):
    reason: str = Field(default="cancelled", max_length=1000)


class StepDecision(Strict):
    comment: str | None = Field(default=None, max_length=4000)


class _Attempted(BaseModel):
    """What a step and a ``foreach`` item both report: status, attempts, data, error, time."""

    status: str
    attempts: int
    input: Any = None
    output: Any = None
    error: dict[str, Any] | None = None
    reason: str | None = None
    updated_at: datetime


class StepItemPublic(_Attempted):
    index: int


class StepPublic(_Attempted):
    id: str
    waiting: dict[str, Any] | None = None
    not_before: datetime | None = None
    items: list[StepItemPublic] | None = None
    reused_from: UUID | None = Field(
        default=None, description="A rerun took this step's output from that run."
    )


class RunSummary(BaseModel):
    id: UUID
    workflow_id: UUID
    workflow_version: int
    status: str
    started_by: str
    reason: str | None = None
    version: int
    created_at: datetime
    updated_at: datetime
    ended_at: datetime | None = None
    parent_run_id: UUID | None = Field(
        default=None, description="The run whose `workflow:` step started this one."
    )
    rerun_of: UUID | None = Field(default=None, description="The run this one reruns.")


class RunPublic(RunSummary):
    input: Any = None
    output: Any = None
    trigger: dict[str, Any] | None = Field(
        default=None, description='What started it besides a caller: {"kind": "schedule", ...}.'
    )
    steps: list[StepPublic]
    children: list[UUID] = Field(
        default_factory=list,
        description="Child runs started by this run's `workflow:` steps (step, then item order).",
    )


class RunRerun(Strict):
    from_step: str | None = Field(
        default=None, max_length=63, pattern=STEP_ID_PATTERN,
        description="Run this step and everything downstream again (default: the failed steps);"
        " a step id of the run's definition.",
    )  # fmt: skip
    input: Any = Field(default=None, description="A new input (default: the original's).")


class RunRerunAccepted(BaseModel):
    id: UUID
    rerun_of: UUID
    reused: list[str] = Field(description="Steps whose recorded outputs the new run reuses.")


class SignalAccepted(BaseModel):
    run_id: UUID
    name: str
    step_id: str | None = Field(
        description="The waiting step the signal completed; null when none waited and it "
        "was buffered for the first that will."
    )
    index: int | None = None


class RunEventPublic(BaseModel):
    sequence: int = Field(description="The event's position in the run (1, 2, ...).")
    type: str
    time: datetime
    data: dict[str, Any]


class RunEventsPublic(BaseModel):
    items: list[RunEventPublic]
