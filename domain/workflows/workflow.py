"""Workflow: a tenant's process definition with an append-only list of versions."""

from __future__ import annotations

from copy import deepcopy
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from domain.kernel import lifecycle
from domain.kernel.base import PlatinumAggregate
from domain.kernel.errors import ConflictError


class Workflow(PlatinumAggregate):
    """A workflow; ``versions[n-1]`` is definition version ``n``."""

    @event("Created")
    def __init__(
        self,
        tenant_id: UUID,
        name: str,
        definition: dict[str, Any],
        created_by: UUID | None,
        created_at: datetime,
    ) -> None:
        self.tenant_id = tenant_id
        self.name = name
        self.created_by = created_by
        self.status = lifecycle.WORKFLOW.initial
        self.versions: list[dict[str, Any]] = []
        self._append_version(definition, created_by, created_at)

    def _append_version(
        self, definition: dict[str, Any], created_by: UUID | None, created_at: datetime
    ) -> None:
        self.versions.append(
            {
                "version": len(self.versions) + 1,
                "definition": deepcopy(definition),
                "created_by": created_by,
                "created_at": created_at,
            }
        )

    @property
    def current_version(self) -> int:
        return len(self.versions)

    @property
    def definition(self) -> dict[str, Any]:
        return deepcopy(self.versions[-1]["definition"])

    def definition_at(self, version: int) -> dict[str, Any] | None:
        if 1 <= version <= len(self.versions):
            definition: dict[str, Any] = deepcopy(self.versions[version - 1]["definition"])
            return definition
        return None

    def update_definition(
        self, definition: dict[str, Any], updated_by: UUID | None, at: datetime
    ) -> None:
        if lifecycle.WORKFLOW.is_final(self.status):
            raise ConflictError(
                f"workflow {self.id} is archived", resource_type="workflow", resource_id=self.id
            )
        self._definition_updated(definition=definition, updated_by=updated_by, at=at)

    @event("DefinitionUpdated")
    def _definition_updated(
        self, definition: dict[str, Any], updated_by: UUID | None, at: datetime
    ) -> None:
        self._append_version(definition, updated_by, at)

    def rename(self, name: str) -> None:
        if name != self.name:
            self._renamed(name=name)

    @event("Renamed")
    def _renamed(self, name: str) -> None:
        self.name = name

    def activate(self) -> None:
        self._change_status("active")

    def pause(self) -> None:
        self._change_status("paused")

    def archive(self) -> None:
        self._change_status("archived")

    def _change_status(self, status: str) -> None:
        lifecycle.WORKFLOW.check(self.id, self.status, status)
        self._status_changed(status=status)

    @event("StatusChanged")
    def _status_changed(self, status: str) -> None:
        self.status = status
