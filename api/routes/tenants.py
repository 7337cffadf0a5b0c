"""Tenants: created and managed by the platform admin."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Response, status

from api.audit_hooks import audit_sensitive_read
from api.auth import PlatformAdminPrincipal
from api.composition import Container
from api.deps import ContainerDep
from api.etag import IfMatchDep
from api.readdb import tenant_tx
from api.redact import redact
from api.routes.users import erase_all_users
from api.schemas.identity import (
    TenantCreate,
    TenantCreated,
    TenantPublic,
    TenantUpdate,
    UserBrief,
)
from domain.identity.commands import CreateTenant, UpdateTenant
from domain.kernel.actor import acting_as
from domain.kernel.errors import NotFoundError
from projections.queries import tenants

router = APIRouter(prefix="/v1/tenants", tags=["tenants"])


def read_tenant(container: Container, tenant_id: UUID) -> dict[str, Any]:
    with tenant_tx(container.read_pool, tenant_id) as conn:
        row = tenants.tenant(conn, tenant_id)
    if row is None:
        raise NotFoundError("tenant", tenant_id)
    row["status"] = str(row["status"])
    row["config"] = redact(row["config"])  # secrets in configuration are never returned
    return row


@router.post("", status_code=status.HTTP_201_CREATED, response_model=TenantCreated)
def create_tenant(
    body: TenantCreate, container: ContainerDep, admin: PlatformAdminPrincipal, response: Response
) -> TenantCreated:
    """Create a tenant and its first admin user."""
    with acting_as(admin.actor):
        created = container.platform.create_tenant(CreateTenant(**body.model_dump()))
    container.wait_caught_up()
    tenant = created.tenant
    response.headers["Location"] = f"/v1/tenants/{tenant.id}"
    response.headers["ETag"] = f'"{tenant.version}"'
    first = created.admin
    return TenantCreated(
        **read_tenant(container, tenant.id),
        admin=UserBrief(id=first.id, email=first.email, name=first.name, role=first.role)
        if first
        else None,
    )


@router.get("/{tenant_id}", response_model=TenantPublic)
def get_tenant(
    tenant_id: UUID, container: ContainerDep, admin: PlatformAdminPrincipal, response: Response
) -> TenantPublic:
    """Read a tenant (the billing_info read is recorded in the audit log)."""
    row = read_tenant(container, tenant_id)
    audit_sensitive_read(
        container,
        admin,
        resource_type="tenant",
        resource_id=tenant_id,
        fields=("billing_info",),
        tenant_id=tenant_id,
    )
    response.headers["ETag"] = f'"{row["version"]}"'
    return TenantPublic(**row)


@router.patch("/{tenant_id}", response_model=TenantPublic)
def update_tenant(
    tenant_id: UUID,
    body: TenantUpdate,
    container: ContainerDep,
    admin: PlatformAdminPrincipal,
    response: Response,
    expected: IfMatchDep,
) -> TenantPublic:
    """Change name, config, billing_info or status (``cancelled`` erases its users)."""
    with acting_as(admin.actor):
        tenant = container.platform.update_tenant(
            UpdateTenant(tenant_id=tenant_id, expected_version=expected, **body.model_dump())
        )
        if tenant.status == "cancelled":  # a cancelled tenant's people are erased (GDPR)
            erase_all_users(container, tenant_id)
    container.wait_caught_up()
    row = read_tenant(container, tenant_id)
    response.headers["ETag"] = f'"{row["version"]}"'
    return TenantPublic(**row)
