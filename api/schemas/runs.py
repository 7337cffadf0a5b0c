"""Request and response models of runs: start, cancel, approval decisions, a run, its events."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from api.schemas import Strict

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


class RunPublic(RunSummary):
    input: Any = None
    output: Any = None
    trigger: dict[str, Any] | None = Field(
        default=None, description='What started it besides a caller: {"kind": "schedule", ...}.'
    )
    steps: list[StepPublic]


class RunEventPublic(BaseModel):
    sequence: int = Field(description="The event's position in the run (1, 2, ...).")
    type: str
    time: datetime
    data: dict[str, Any]


class RunEventsPublic(BaseModel):
    items: list[RunEventPublic]
