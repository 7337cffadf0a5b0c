"""The platform admin's pages: the tenants and the marketplace's review queue."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import HTMLResponse

from api.auth import Principal
from api.console.session import container_of, platform_admin
from api.console.templating import render
from api.readdb import tenant_tx
from projections.queries import marketplace, tenants
from projections.queries.paging import PageRequest

router = APIRouter()

Admin = Annotated[Principal, Depends(platform_admin)]


@router.get("/platform", response_class=HTMLResponse)
def platform_home(request: Request, principal: Admin) -> HTMLResponse:
    """Tenants and skills waiting for review."""
    container = container_of(request)
    # the tenants table is fenced by RLS per tenant: the platform admin's list is read on the
    # system role's status connection (read only, the platform admin's alone)
    with container.status_pool.connection() as conn:
        all_tenants = tenants.list_all(conn)
    with tenant_tx(container.read_pool, None) as conn:  # skills are global
        pending, _ = marketplace.list_skills(
            conn, PageRequest(limit=100), every_skill=True, status="pending"
        )
    return render(request, "platform.html", principal, tenants=all_tenants, pending=pending)
