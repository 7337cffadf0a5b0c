"""Global roles (the four built-ins and custom ones) and their permissions."""

from __future__ import annotations

import threading
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from api.auth import Principal, require
from api.deps import ContainerDep
from api.pagination import Page, PageDep, fetch_page
from api.readdb import tenant_tx
from api.schemas_identity import RolePublic

router = APIRouter(prefix="/v1/roles", tags=["roles"])

_seed_lock = threading.Lock()


def ensure_builtin_roles(request: Request, container: Any) -> None:
    """Seed admin/manager/user/viewer once per app (idempotent in the domain).

    Belongs in ``platinum db upgrade``; until bootstrap does it, the first roles read does.
    """
    state = request.app.state
    if getattr(state, "roles_seeded", False):
        return
    with _seed_lock:
        if not getattr(state, "roles_seeded", False):
            container.platform.seed_builtin_roles()
            container.wait_projected(container.platform.recorder.max_notification_id())
            state.roles_seeded = True


@router.get("", response_model=Page[RolePublic])
def list_roles(
    request: Request,
    principal: Annotated[Principal, Depends(require("roles:read"))],
    container: ContainerDep,
    page: PageDep,
) -> Page[RolePublic]:
    """List the global roles and their permissions."""
    ensure_builtin_roles(request, container)
    with tenant_tx(container.read_pool, principal.tenant_id) as conn:
        rows, next_cursor = fetch_page(conn, "SELECT * FROM roles", page)
    return Page[RolePublic](items=[RolePublic(**r) for r in rows], next_cursor=next_cursor)
