"""User (an account inside one tenant) and UserPreference (one per user and key)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from domain.kernel import lifecycle
from domain.kernel.base import PlatinumAggregate
from domain.kernel.ids import preference_id
from domain.kernel.shredding import ERASED

USER_ROLES = ("admin", "manager", "user", "viewer")


class User(PlatinumAggregate):
    """A tenant's user. Holds an argon2id hash, never the password itself."""

    @event("Registered")
    def __init__(
        self,
        tenant_id: UUID,
        email: str,
        password_hash: str | None,
        name: str,
        role: str,
        status: str,
    ) -> None:
        self.tenant_id = tenant_id
        self.email = email
        self.password_hash = password_hash
        self.name = name
        self.role = role
        self.status = status
        self.last_login: datetime | None = None
        self.role_assignments: list[dict[str, Any]] = []

    erased: bool = False
    """True once the user's personal data was erased (their key destroyed; docs/erasure.md)."""
    session_generation: int = 0
    """Bumped when the user's sessions are revoked: a session records the value it was opened
    under and is dead once they differ (a later reactivation does not revive it)."""
    api_key_generation: int = 0
    """Bumped when the user is deactivated: API keys the user created before stop for good."""

    @property
    def role_ids(self) -> list[UUID]:
        return [a["role_id"] for a in self.role_assignments]

    def update(self, name: str | None = None, role: str | None = None) -> None:
        """Change name and/or built-in role; records nothing if nothing changes. A role
        change revokes the user's sessions."""
        changes: dict[str, Any] = {}
        if name is not None and name != self.name:
            changes["name"] = name
        if role is not None and role != self.role:
            changes["role"] = role
        if changes:
            self._updated(changes=changes)
        if "role" in changes:
            self.revoke_credentials(api_keys=False)

    @event("CredentialsRevoked")
    def revoke_credentials(self, api_keys: bool) -> None:
        """End every session of the user opened before now, and with ``api_keys`` every API
        key the user created before now."""
        self.session_generation += 1
        if api_keys:
            self.api_key_generation += 1

    @event("Updated")
    def _updated(self, changes: dict[str, Any]) -> None:
        for field, value in changes.items():
            setattr(self, field, value)

    def set_status(self, status: str) -> None:
        if status != self.status:
            lifecycle.USER.check(self.id, self.status, status)
            if self.status == "active":  # leaving active revokes; coming back revives nothing
                self.revoke_credentials(api_keys=True)
            self._status_changed(status=status)

    @event("StatusChanged")
    def _status_changed(self, status: str) -> None:
        self.status = status

    def erase(self) -> None:
        """Mark the user erased and end every session and API key of theirs (idempotent);
        the application destroys the subject's key after saving this."""
        if not self.erased:
            self.revoke_credentials(api_keys=True)
            self._erased()

    @event("Erased")
    def _erased(self) -> None:
        self.erased = True
        self.email = ERASED
        self.name = ERASED

    @event("PasswordChanged")
    def change_password(self, password_hash: str) -> None:
        self.password_hash = password_hash

    @event("LoggedIn")
    def record_login(self, at: datetime) -> None:
        self.last_login = at

    def assign_roles(self, assignments: list[dict[str, Any]]) -> None:
        """Replace the junction rows: each ``{role_id, assigned_by, assigned_at}``; taking a
        role away revokes the user's sessions (a grant applies at once, nothing to end)."""
        before = set(self.role_ids)
        self._roles_assigned(assignments=assignments)
        if before - set(self.role_ids):
            self.revoke_credentials(api_keys=False)

    @event("RolesAssigned")
    def _roles_assigned(self, assignments: list[dict[str, Any]]) -> None:
        self.role_assignments = [dict(a) for a in assignments]


class UserPreference(PlatinumAggregate):
    """One preference of one user; the id is derived from (user, key), so keys are unique."""

    @staticmethod
    def create_id(user_id: UUID, key: str, **_: Any) -> UUID:
        return preference_id(user_id, key)

    @event("Set")
    def __init__(self, tenant_id: UUID, user_id: UUID, key: str, value: str) -> None:
        self.tenant_id = tenant_id
        self.user_id = user_id
        self.key = key
        self.value: str | None = value

    @property
    def is_deleted(self) -> bool:
        return self.value is None

    class Changed(PlatinumAggregate.Event):
        """v2 added ``user_id`` (the data subject whose key seals ``value``); v1 reads None."""

        class_version = 2
        value: str
        user_id: UUID | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["user_id"] = None

    def set_value(self, value: str) -> None:
        if value != self.value:
            self._changed(value=value, user_id=self.user_id)

    @event(Changed)
    def _changed(self, value: str, user_id: UUID | None) -> None:  # noqa: ARG002
        self.value = value

    def delete(self) -> None:
        # deletion keeps the aggregate: setting the key again revives it with the same id
        if self.value is not None:
            self._deleted()

    @event("Deleted")
    def _deleted(self) -> None:
        self.value = None
