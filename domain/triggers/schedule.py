"""Schedule: a cron expression in a time zone that starts runs of one workflow."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from domain.kernel.base import PlatinumAggregate
from domain.kernel.errors import ConflictError

OVERLAP = ("skip", "allow", "cancel_previous")
CATCHUP = ("none", "last", "all")
STATUSES = ("active", "paused")


class Schedule(PlatinumAggregate):
    """A schedule of a workflow. ``active_since`` is when its current cron started to count:
    creation, the last resume or the last change of cron or time zone; no tick at or before it
    ever fires (a paused schedule catches up nothing of its pause)."""

    @event("Created")
    def __init__(
        self,
        tenant_id: UUID,
        workflow_id: UUID,
        cron: str,
        timezone: str,
        input: Any,
        overlap: str,
        catchup: str,
        created_by: UUID | None,
        created_at: datetime,
    ) -> None:
        self.tenant_id = tenant_id
        self.workflow_id = workflow_id
        self.cron = cron
        self.timezone = timezone
        self.input = input
        self.overlap = overlap
        self.catchup = catchup
        self.created_by = created_by
        self.status = "active"
        self.active_since = created_at
        self.deleted = False

    def update(self, changes: dict[str, Any], at: datetime) -> None:
        """Change any of cron, timezone, input, overlap, catchup, status (already valid)."""
        self._require_live()
        changed = {k: v for k, v in changes.items() if getattr(self, k) != v}
        if changed:
            self._updated(changes=changed, at=at)

    @event("Updated")
    def _updated(self, changes: dict[str, Any], at: datetime) -> None:
        for key, value in changes.items():
            setattr(self, key, value)
        if "cron" in changes or "timezone" in changes or changes.get("status") == "active":
            self.active_since = at

    def delete(self) -> None:
        self._require_live()
        self._deleted()

    @event("Deleted")
    def _deleted(self) -> None:
        self.deleted = True

    def _require_live(self) -> None:
        if self.deleted:
            raise ConflictError(
                f"schedule {self.id} is deleted", resource_type="schedule", resource_id=self.id
            )
