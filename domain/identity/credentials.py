"""Login sessions and API keys: stored by hash, looked up by recomputing the hash."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from domain.kernel.base import PlatinumAggregate
from domain.kernel.ids import api_key_id, session_id


def _revoke_once(credential: Session | ApiKey) -> None:
    """Revoke a credential; revoking it again records nothing."""
    if not credential.revoked:
        credential._revoked()


class Session(PlatinumAggregate):
    """A user's login session; its id is uuid5 of the token's SHA-256."""

    @staticmethod
    def create_id(token_hash: str, **_: Any) -> UUID:
        return session_id(token_hash)

    @event("Opened")
    def __init__(
        self,
        tenant_id: UUID,
        user_id: UUID,
        token_hash: str,
        expires_at: datetime,
        user_generation: int = 0,
        tenant_generation: int = 0,
    ) -> None:
        self.tenant_id = tenant_id
        self.user_id = user_id
        self.token_hash = token_hash
        self.expires_at = expires_at
        self.revoked = False
        # the user's and tenant's session generations when opened (0 for older sessions)
        self.user_generation = user_generation
        self.tenant_generation = tenant_generation

    def is_valid(self, now: datetime) -> bool:
        return not self.revoked and now < self.expires_at

    def revoke(self) -> None:
        _revoke_once(self)

    @event("Revoked")
    def _revoked(self) -> None:
        self.revoked = True


class ApiKey(PlatinumAggregate):
    """A tenant's service credential with a built-in role; its id is uuid5 of the hash."""

    @staticmethod
    def create_id(secret_hash: str, **_: Any) -> UUID:
        return api_key_id(secret_hash)

    @event("Created")
    def __init__(
        self,
        tenant_id: UUID,
        name: str,
        role: str,
        secret_hash: str,
        created_by: UUID | None,
        creator_generation: int = 0,
    ) -> None:
        self.tenant_id = tenant_id
        self.name = name
        self.role = role
        self.secret_hash = secret_hash
        self.created_by = created_by
        self.revoked = False
        # the creator's API-key generation when created: the key stops once it moves on
        self.creator_generation = creator_generation

    def revoke(self) -> None:
        _revoke_once(self)

    @event("Revoked")
    def _revoked(self) -> None:
        self.revoked = True
