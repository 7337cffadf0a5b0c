"""Tenant: an organisation whose data is isolated from every other tenant's."""

from __future__ import annotations

from copy import deepcopy
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from domain.kernel import lifecycle
from domain.kernel.base import PlatinumAggregate
from domain.kernel.errors import ConflictError


class Tenant(PlatinumAggregate):
    """A tenant; its own id doubles as its ``tenant_id``. Slug is immutable."""

    @event("Created")
    def __init__(
        self,
        name: str,
        slug: str,
        config: dict[str, Any],
        billing_info: dict[str, Any],
    ) -> None:
        self.name = name
        self.slug = slug
        # copies: later in-place edits must not reach back into a pending event's payload
        self.config = deepcopy(config)
        self.billing_info = deepcopy(billing_info)
        self.status = lifecycle.TENANT.initial

    @property
    def tenant_id(self) -> UUID:
        return self.id

    @property
    def is_active(self) -> bool:
        return self.status == "active"

    def _check_writable(self) -> None:
        if lifecycle.TENANT.is_final(self.status):
            raise ConflictError(
                f"tenant {self.id} is {self.status}", resource_type="tenant", resource_id=self.id
            )

    def update(
        self,
        name: str | None = None,
        config: dict[str, Any] | None = None,
        billing_info: dict[str, Any] | None = None,
    ) -> None:
        """Change any of name/config/billing_info; records nothing if nothing changes."""
        self._check_writable()
        changes: dict[str, Any] = {}
        if name is not None and name != self.name:
            changes["name"] = name
        if config is not None and config != self.config:
            changes["config"] = config
        if billing_info is not None and billing_info != self.billing_info:
            changes["billing_info"] = billing_info
        if changes:
            self._updated(changes=changes)

    @event("Updated")
    def _updated(self, changes: dict[str, Any]) -> None:
        for field, value in changes.items():
            setattr(self, field, deepcopy(value))

    session_generation: int = 0
    """Bumped when the tenant's sessions are revoked: a session opened before stays dead."""

    def set_status(self, status: str) -> None:
        lifecycle.TENANT.check(self.id, self.status, status)
        if self.status == "active" and status != "active":
            self.revoke_sessions()  # suspension revokes; reactivation does not revive
        self._status_changed(status=status)

    @event("SessionsRevoked")
    def revoke_sessions(self) -> None:
        """End every login session of the tenant's users opened before now."""
        self.session_generation += 1

    @event("StatusChanged")
    def _status_changed(self, status: str) -> None:
        self.status = status

    def set_config(self, key: str, value: Any) -> None:
        self._check_writable()
        if key not in self.config or self.config[key] != value:
            self._config_set(key=key, value=value)

    @event("ConfigSet")
    def _config_set(self, key: str, value: Any) -> None:
        self.config[key] = deepcopy(value)

    def unset_config(self, key: str) -> None:
        self._check_writable()
        if key in self.config:
            self._config_unset(key=key)

    @event("ConfigUnset")
    def _config_unset(self, key: str) -> None:
        del self.config[key]
