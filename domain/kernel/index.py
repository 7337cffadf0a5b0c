"""Index aggregates: a deterministic id per unique key, so a duplicate is a version clash.

Saved in the same ``app.save(owner, index)`` call as the owner, a second claim of a key
creates version 1 of an aggregate that already exists, and the recorder rejects the whole
save with ``IntegrityError``. No read-then-write check is involved.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from domain.kernel.base import PlatinumAggregate
from domain.kernel.ids import index_id


class UniqueKey(PlatinumAggregate):
    """Reserves ``key`` for ``owner_id``; a released key can be claimed again."""

    @staticmethod
    def create_id(key: str, **_: Any) -> UUID:
        return index_id(key)

    @event("Claimed")
    def __init__(self, key: str, owner_id: UUID, tenant_id: UUID | None) -> None:
        self.key = key
        self.owner_id: UUID | None = owner_id
        self.tenant_id = tenant_id

    @property
    def is_free(self) -> bool:
        return self.owner_id is None

    @event("Released")
    def release(self) -> None:
        self.owner_id = None

    @event("Reclaimed")
    def reclaim(self, owner_id: UUID) -> None:
        self.owner_id = owner_id
