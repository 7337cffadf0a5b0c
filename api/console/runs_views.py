"""The runs list: filter by workflow and status; the rows refresh live (an htmx partial)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import HTMLResponse

from api.auth import Principal, tenant_of
from api.console.session import allowed, container_of
from api.console.templating import render
from api.readdb import tenant_tx
from api.schemas.runs import RunStatus
from projections.queries import runs as runs_read
from projections.queries import workflows as workflows_read
from projections.queries.paging import PageRequest

router = APIRouter()

Reader = Annotated[Principal, Depends(allowed("runs:read"))]
STATUSES = ("pending", "running", "paused", "succeeded", "failed", "cancelled")


def _filters(workflow: str | None, status: str | None) -> tuple[UUID | None, str | None]:
    """Unknown values filter nothing (a stale bookmark still shows a page)."""
    try:
        workflow_id = UUID(workflow) if workflow else None
    except ValueError:
        workflow_id = None
    return workflow_id, (status if status in STATUSES else None)


def _rows(
    request: Request, principal: Principal, workflow_id: UUID | None, status: str | None
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    container = container_of(request)
    with tenant_tx(container.read_pool, tenant_of(principal)) as conn:
        rows, _ = runs_read.list_runs(
            conn, PageRequest(limit=100), workflow_id=workflow_id, status=status
        )
        flows, _ = workflows_read.list_workflows(conn, PageRequest(limit=500))
    names = {str(w["id"]): str(w["name"]) for w in flows}
    return rows, names


Filter = Annotated[str | None, Query(max_length=64)]


@router.get("/runs", response_class=HTMLResponse)
def runs_page(
    request: Request, principal: Reader, workflow: Filter = None, status: Filter = None
) -> HTMLResponse:
    """The runs, newest first."""
    workflow_id, status_ = _filters(workflow, status)
    rows, names = _rows(request, principal, workflow_id, status_)
    return render(
        request, "runs.html", principal, runs=rows, workflows=names, statuses=STATUSES,
        workflow=str(workflow_id or ""), status=status_ or "",
    )  # fmt: skip


@router.get("/runs/rows", response_class=HTMLResponse)
def runs_rows(
    request: Request, principal: Reader, workflow: Filter = None, status: Filter = None
) -> HTMLResponse:
    """The table's rows alone (what the page polls)."""
    workflow_id, status_ = _filters(workflow, status)
    rows, names = _rows(request, principal, workflow_id, status_)
    return render(request, "_runs_rows.html", principal, runs=rows, workflows=names)


__all__ = ["RunStatus", "router"]
