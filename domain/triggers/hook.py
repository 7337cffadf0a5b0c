"""Hook: a signed webhook endpoint that starts runs of one workflow.

The HMAC secret must be known to verify a signature, so it is kept (not a hash of it): in
the ``Created`` event, which the event store encrypts at rest (AES, ``PLATINUM_CIPHER_KEY``),
and under a key name (``secret``) that every way out (audit, history, exports) redacts.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import event

from domain.kernel.base import PlatinumAggregate
from domain.kernel.errors import ConflictError


class Hook(PlatinumAggregate):
    """A webhook endpoint; ``mapping`` (an expression over ``input``, the payload) or None."""

    @event("Created")
    def __init__(
        self,
        tenant_id: UUID,
        workflow_id: UUID,
        secret: str,
        mapping: str | None,
        created_by: UUID | None,
        created_at: datetime,
    ) -> None:
        self.tenant_id = tenant_id
        self.workflow_id = workflow_id
        self.secret = secret
        self.mapping = mapping
        self.created_by = created_by
        self.created_at = created_at
        self.deleted = False

    def delete(self) -> None:
        if self.deleted:
            raise ConflictError(
                f"hook {self.id} is deleted", resource_type="hook", resource_id=self.id
            )
        self._deleted()

    @event("Deleted")
    def _deleted(self) -> None:
        self.deleted = True
