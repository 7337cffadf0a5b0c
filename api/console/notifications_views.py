"""The signed-in user's own notifications: the inbox, newest first, and marking one read."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response
from starlette.responses import HTMLResponse, RedirectResponse

from api.auth import Principal
from api.console.session import allowed, container_of
from api.console.templating import render
from api.routes.messaging import list_notifications, mark_read
from projections.queries.paging import PageRequest

router = APIRouter()

Reader = Annotated[Principal, Depends(allowed("notifications:read"))]


@router.get("/notifications", response_class=HTMLResponse)
def inbox(request: Request, principal: Reader) -> HTMLResponse:
    """Your notifications (``GET /v1/notifications``)."""
    page = list_notifications(principal, container_of(request), PageRequest(limit=200))
    return render(request, "notifications.html", principal, items=page.items)


@router.post("/notifications/{notification_id}/read")
def read(request: Request, notification_id: UUID, principal: Reader) -> Response:
    """Mark one of yours read (``POST /v1/notifications/{id}/read``; another's is a 404)."""
    mark_read(notification_id, principal, container_of(request), Response())
    return RedirectResponse("/ui/notifications", status_code=303)
