"""Command inputs of workflows: creating one and appending a definition version.

One frozen model per multi-field command, so fields can be added later. Fields are typed
loosely (``Any`` where callers pass raw JSON) because the commands validate everything
themselves and report problems as ``ValidationError``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID


@dataclass(frozen=True)
class CreateWorkflow:
    tenant_id: UUID
    name: Any
    definition: Any
    created_by: UUID | None = None


@dataclass(frozen=True)
class UpdateDefinition:
    tenant_id: UUID
    workflow_id: UUID
    definition: Any
    updated_by: UUID | None = None
    expected_version: int | None = None  # the aggregate version from the ETag (If-Match)
