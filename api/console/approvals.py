"""The approvals inbox: the approval steps waiting that the signed-in user may answer."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import HTMLResponse

from api.auth import Principal
from api.console.session import allowed, container_of
from api.readdb import tenant_tx
from api.routes.runs import _roles_held
from projections.queries import runs as runs_read

router = APIRouter()

Reader = Depends(allowed("runs:read"))


def answerable(request: Request, principal: Principal) -> list[dict[str, Any]]:
    """The waiting approvals whose role this principal holds (the rule ``Runs`` applies)."""
    if principal.tenant_id is None or not principal.can("runs:read"):
        return []
    container = container_of(request)
    with tenant_tx(container.read_pool, principal.tenant_id) as conn:
        rows = runs_read.waiting_approvals(conn)
    if not rows:
        return []
    held = {r.casefold() for r in _roles_held(container, principal)}
    mine = []
    for row in rows:
        role = (row["waiting"] or {}).get("role")
        if isinstance(role, str) and role.strip().casefold() in held:
            mine.append({**row, "role": role})
    return mine


def approvals_count(request: Request, principal: Principal) -> int:
    return len(answerable(request, principal))


@router.get("/approvals", response_class=HTMLResponse)
def inbox(request: Request, principal: Principal = Reader) -> HTMLResponse:
    """The inbox page."""
    from api.console.templating import render

    items = answerable(request, principal)
    return render(request, "approvals.html", principal, items=items, nav_approvals=len(items))


@router.get("/approvals/count", response_class=HTMLResponse)
def count(request: Request, principal: Principal = Reader) -> HTMLResponse:
    """The navigation's badge (polled by htmx)."""
    from api.console.templating import render

    return render(request, "_approvals_count.html", principal)
