"""Command inputs of triggers: creating and changing a schedule, creating a hook.

Fields are typed loosely (``Any`` where callers pass raw JSON): the commands validate
everything themselves and report problems as ``ValidationError``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID


@dataclass(frozen=True)
class CreateSchedule:
    tenant_id: UUID
    workflow_id: UUID
    cron: Any
    timezone: Any = "UTC"
    input: Any = None
    overlap: Any = "skip"
    catchup: Any = "none"
    created_by: UUID | None = None


@dataclass(frozen=True)
class UpdateSchedule:
    """Only the fields in ``changes`` change (cron, timezone, input, overlap, catchup, status)."""

    tenant_id: UUID
    schedule_id: UUID
    changes: dict[str, Any] = field(default_factory=dict)
    expected_version: int | None = None  # If-Match


@dataclass(frozen=True)
class CreateHook:
    tenant_id: UUID
    workflow_id: UUID
    mapping: Any = None  # checked by the caller's expression compiler too (the engine's)
    created_by: UUID | None = None
