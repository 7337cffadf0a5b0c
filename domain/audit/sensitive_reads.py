"""Audit-only records: sensitive reads and security happenings, as events the audit log reads.

The audit log has one writer (the projector), so what changes no state but must be audited is
recorded here as an immutable one-event aggregate: a read of sensitive data, a failed login.

The API calls ``record_sensitive_read(app, ...)`` after it has served, e.g., a user's
details or an export; the event carries the actor's ``meta`` like every other event, and the
audit projection turns it into an ``audit_events`` row (action ``SensitiveRead.Recorded``,
resource_type/resource_id of what was read).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import event

from domain.kernel.base import PlatinumAggregate
from domain.kernel.errors import ValidationError


class SensitiveRead(PlatinumAggregate):
    """One read of sensitive fields of one resource (immutable, one event)."""

    @event("Recorded")
    def __init__(
        self, tenant_id: UUID | None, resource_type: str, resource_id: str, fields: list[str]
    ) -> None:
        self.tenant_id = tenant_id
        self.resource_type = resource_type
        self.resource_id = resource_id
        self.fields = list(fields)


def record_sensitive_read(
    app: Application[Any],
    *,
    tenant_id: UUID | None,
    resource_type: str,
    resource_id: UUID | str,
    fields: Iterable[str] = (),
) -> SensitiveRead:
    """Record that the acting principal (``domain.kernel.actor.acting_as``) read ``fields`` of a
    resource; returns the saved aggregate (its id is the audit row's ``originator_id``)."""
    if not resource_type or len(resource_type) > 100:
        raise ValidationError.one("/resource_type", "must be 1 to 100 characters")
    read = SensitiveRead(
        tenant_id=tenant_id,
        resource_type=resource_type,
        resource_id=str(resource_id)[:255],
        fields=sorted(set(fields)),
    )
    app.save(read)
    return read


class SecurityEvent(PlatinumAggregate):
    """A security-relevant happening of a tenant that changes no state, e.g. a failed login
    (immutable, one event; the audit log shows it as ``SecurityEvent.Recorded``)."""

    @event("Recorded")
    def __init__(self, tenant_id: UUID | None, kind: str, user_id: UUID | None) -> None:
        self.tenant_id = tenant_id
        self.kind = kind
        self.user_id = user_id
