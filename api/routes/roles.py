"""Global roles (the four built-ins and custom ones) and their permissions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from api.auth import Principal, require
from api.deps import ContainerDep
from api.pagination import Page, PageDep
from api.readdb import tenant_tx
from api.schemas.identity import RolePublic
from projections.queries import roles

router = APIRouter(prefix="/v1/roles", tags=["roles"])


@router.get("", response_model=Page[RolePublic])
def list_roles(
    principal: Annotated[Principal, Depends(require("roles:read"))],
    container: ContainerDep,
    page: PageDep,
) -> Page[RolePublic]:
    """List the global roles and their permissions."""
    with tenant_tx(container.read_pool, principal.tenant_id) as conn:
        rows, next_cursor = roles.list_roles(conn, page)
    return Page[RolePublic](items=[RolePublic(**r) for r in rows], next_cursor=next_cursor)
