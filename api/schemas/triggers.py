"""Request and response models of triggers: schedules and signed webhook endpoints (hooks)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from api.schemas import Strict

Overlap = Literal["skip", "allow", "cancel_previous"]
Catchup = Literal["none", "last", "all"]


class ScheduleCreate(Strict):
    cron: str = Field(
        max_length=200, description="5 fields, or 6 with seconds first: `*/5 * * * * *`."
    )
    timezone: str = Field(default="UTC", max_length=64, description="An IANA time zone.")
    input: Any = Field(default=None, description="The input of every run it starts.")
    overlap: Overlap = "skip"
    catchup: Catchup = "none"


class SchedulePatch(Strict):
    """Only the fields present change; ``status`` pauses (``paused``) or resumes (``active``)."""

    cron: str | None = Field(default=None, max_length=200)
    timezone: str | None = Field(default=None, max_length=64)
    input: Any = None
    overlap: Overlap | None = None
    catchup: Catchup | None = None
    status: Literal["active", "paused"] | None = None


class SchedulePublic(BaseModel):
    id: UUID
    workflow_id: UUID
    cron: str
    timezone: str
    input: Any = None
    overlap: str
    catchup: str
    status: str
    active_since: datetime
    next_fire_times: list[datetime] = Field(description="The next 5 (UTC); none when paused.")
    version: int
    created_at: datetime
    updated_at: datetime


class HookCreate(Strict):
    mapping: str | None = Field(
        default=None,
        max_length=4096,
        description="A CEL expression over `input` (the payload) giving the run's input.",
    )


class HookPublic(BaseModel):
    id: UUID
    workflow_id: UUID
    url: str
    mapping: str | None = None
    version: int
    created_at: datetime


class HookCreated(HookPublic):
    secret: str = Field(description="Shown once: the HMAC-SHA256 key of the signatures.")


class HookDelivered(BaseModel):
    run_id: UUID
