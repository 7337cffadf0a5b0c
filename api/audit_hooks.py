"""Reads of sensitive data (user PII, billing info) recorded in the audit log.

``audit_sensitive_read`` is the single call site: every route that serves such data calls it
after building its response. It records a ``SensitiveRead`` event through
``domain.audit.sensitive_reads.record_sensitive_read`` as the acting principal, so the audit
projection turns
it into an ``audit_events`` row like any other event.
"""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from api.auth import Principal
from api.composition import Container
from domain.audit.sensitive_reads import record_sensitive_read
from domain.kernel.actor import acting_as

USER_PII_FIELDS = ("email", "name", "last_login")


def audit_sensitive_read(
    container: Container,
    principal: Principal,
    *,
    resource_type: str,
    resource_id: UUID | str,
    fields: Iterable[str],
    tenant_id: UUID | None = None,
) -> None:
    """Record that ``principal`` read ``fields`` of one resource (``tenant_id`` defaults to
    the principal's; the platform admin passes the tenant it read)."""
    with acting_as(principal.actor):
        record_sensitive_read(
            container.platform,
            tenant_id=tenant_id if tenant_id is not None else principal.tenant_id,
            resource_type=resource_type,
            resource_id=resource_id,
            fields=fields,
        )
