"""Role: a global, named set of permissions (the four built-ins plus custom ones)."""

from __future__ import annotations

from eventsourcing.domain import event

from domain.kernel.base import PlatinumAggregate


class Role(PlatinumAggregate):
    """A global role; the name is unique system-wide (see ``UniqueKey``)."""

    @event("Created")
    def __init__(self, name: str, description: str, permissions: list[str], builtin: bool) -> None:
        self.name = name
        self.description = description
        self.permissions = list(permissions)
        self.builtin = builtin

    def update(self, description: str | None = None, permissions: list[str] | None = None) -> None:
        if (description is not None and description != self.description) or (
            permissions is not None and permissions != self.permissions
        ):
            self._updated(
                description=self.description if description is None else description,
                permissions=list(self.permissions if permissions is None else permissions),
            )

    @event("Updated")
    def _updated(self, description: str, permissions: list[str]) -> None:
        self.description = description
        self.permissions = list(permissions)
