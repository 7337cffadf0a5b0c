"""Who am I, and my own preferences."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Response, status

from api.audit_hooks import USER_PII_FIELDS, audit_sensitive_read
from api.auth import Principal, require, require_user, tenant_of, user_of
from api.composition import Container
from api.deps import ContainerDep, KeyPath
from api.etag import IfMatchDep, check_if_match, set_etag
from api.readdb import tenant_tx
from api.routes.users import read_user
from api.schemas.identity import ApiKeyBrief, MePublic, PreferencePublic, PreferenceSet, TenantBrief
from domain.identity.commands import SetPreference
from domain.kernel.actor import acting_as
from domain.kernel.errors import NotFoundError
from projections.queries import preferences

router = APIRouter(prefix="/v1/me", tags=["me"])

MeReader = Annotated[Principal, Depends(require("me:read"))]
PreferenceUser = Annotated[Principal, Depends(require_user("preferences:write"))]


@router.get("", response_model=MePublic)
def me(principal: MeReader, container: ContainerDep) -> MePublic:
    """The caller: its tenant, role, effective permissions and, for users, the profile."""
    assert principal.tenant_id is not None
    tenant = container.platform.get_tenant(principal.tenant_id)
    out = MePublic(
        kind="user" if principal.kind == "user" else "api_key",
        role=principal.role,
        permissions=sorted(principal.permissions),
        tenant=TenantBrief(id=tenant.id, slug=tenant.slug, name=tenant.name, status=tenant.status),
    )
    if principal.user_id is not None:
        out.user = read_user(container, principal.tenant_id, principal.user_id)
        audit_sensitive_read(
            container,
            principal,
            resource_type="user",
            resource_id=principal.user_id,
            fields=USER_PII_FIELDS,
        )
    elif principal.api_key_id is not None:
        key = container.platform.get_api_key(principal.tenant_id, principal.api_key_id)
        out.api_key = ApiKeyBrief(id=key.id, name=key.name, role=key.role)
    return out


def _read_preference(container: Container, principal: Principal, key: str) -> dict[str, Any]:
    with tenant_tx(container.read_pool, principal.tenant_id) as conn:
        row = preferences.preference(conn, user_of(principal), key)
    if row is None:
        raise NotFoundError("preference", key)
    return row


def _check_preference(
    container: Container, principal: Principal, key: str, expected: int | None
) -> tuple[UUID, UUID]:
    """The caller's tenant and user ids, once ``If-Match`` (when given) holds for ``key``."""
    tenant_id, user_id = tenant_of(principal), user_of(principal)
    if expected is not None:
        current = container.platform.get_preference(tenant_id, user_id, key)
        check_if_match(expected, current.version, "preference")
    return tenant_id, user_id


@router.get("/preferences/{key}", response_model=PreferencePublic)
def get_preference(
    key: KeyPath, principal: PreferenceUser, container: ContainerDep, response: Response
) -> PreferencePublic:
    """Read one of the caller's preferences."""
    row = _read_preference(container, principal, key)
    set_etag(response, row["version"])
    return PreferencePublic(**row)


@router.put("/preferences/{key}", response_model=PreferencePublic)
def put_preference(
    key: KeyPath,
    body: PreferenceSet,
    principal: PreferenceUser,
    container: ContainerDep,
    response: Response,
    expected: IfMatchDep,
) -> PreferencePublic:
    """Create or replace one of the caller's preferences."""
    tenant_id, user_id = _check_preference(container, principal, key, expected)
    with acting_as(principal.actor):
        container.platform.set_preference(
            SetPreference(tenant_id=tenant_id, user_id=user_id, key=key, value=body.value)
        )
    container.wait_caught_up()
    row = _read_preference(container, principal, key)
    set_etag(response, row["version"])
    return PreferencePublic(**row)


@router.delete(
    "/preferences/{key}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response
)
def delete_preference(
    key: KeyPath, principal: PreferenceUser, container: ContainerDep, expected: IfMatchDep
) -> Response:
    """Delete one of the caller's preferences."""
    tenant_id, user_id = _check_preference(container, principal, key, expected)
    with acting_as(principal.actor):
        container.platform.delete_preference(tenant_id, user_id, key)
    container.wait_caught_up()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
