"""Request and response models of workflows: create, definitions, versions, validation."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from api.schemas import Strict


class WorkflowCreate(Strict):
    name: str = Field(description="2 to 255 characters.")
    definition: dict[str, Any] | str = Field(
        description="The definition: a JSON object, or its JSON or YAML text."
    )


class DefinitionSubmit(Strict):
    definition: dict[str, Any] | str


class WorkflowPublic(BaseModel):
    id: UUID
    name: str
    status: str
    definition_version: int = Field(description="The current definition version (1, 2, ...).")
    definition: dict[str, Any]
    created_by: UUID | None = None
    version: int = Field(description="The resource version (the ETag).")
    created_at: datetime
    updated_at: datetime


class WorkflowVersionPublic(BaseModel):
    definition_version: int
    definition: dict[str, Any]
    created_by: UUID | None = None
    created_at: datetime


class WorkflowVersionsPublic(BaseModel):
    items: list[WorkflowVersionPublic]


class ValidationProblem(BaseModel):
    pointer: str
    message: str


class ValidationResult(BaseModel):
    valid: bool
    errors: list[ValidationProblem]
