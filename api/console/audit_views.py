"""The auditor's pages: the audit timeline (filters), the chain's verification, the export,
and a resource's history with a time slider; each through the JSON route's own function."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import HTMLResponse, Response

from api.auth import Principal
from api.console.session import allowed, container_of
from api.console.templating import render
from api.console.text_diff import as_text, diff_rows
from api.pagination import MAX_LIMIT, page_params
from api.routes.audit import (
    export_audit_events,
    get_history,
    list_audit_events,
    verify_audit_chain,
)
from api.schemas.audit import HistoryPublic, StatePublic

router = APIRouter()

Auditor = Annotated[Principal, Depends(allowed("audit:read"))]
Text = Annotated[str, Query(max_length=255)]


def _when(value: str) -> datetime | None:
    """A ``datetime-local`` field (UTC) or an RFC 3339 time; anything else filters nothing."""
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None
    except ValueError:
        return None
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at


def _uuid(value: str) -> UUID | None:
    try:
        return UUID(value) if value else None
    except ValueError:
        return None


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request, principal: Auditor, since: Text = "", until: Text = "", user: Text = "",
    action: Text = "", resource_type: Text = "", resource_id: Text = "",
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> HTMLResponse:  # fmt: skip
    """The tenant's audit events, oldest first, filtered (``GET /v1/audit/events``)."""
    filters = {"since": since, "until": until, "user": user, "action": action,
               "resource_type": resource_type, "resource_id": resource_id}  # fmt: skip
    page = list_audit_events(
        principal, container_of(request), page_params(limit=min(100, MAX_LIMIT), cursor=cursor),
        since=_when(since), until=_when(until), user_id=_uuid(user), action=action or None,
        resource_type=resource_type or None, resource_id=resource_id or None,
    )  # fmt: skip
    return render(request, "audit.html", principal, events=page.items,
                  next_cursor=page.next_cursor, filters=filters)  # fmt: skip


@router.get("/audit/verify", response_class=HTMLResponse)
def verify(request: Request, principal: Auditor) -> HTMLResponse:
    """Recompute the hash chains (``GET /v1/audit/verify``): ``ok`` and the head, or the
    first broken link (a partial the verify button swaps in)."""
    result = verify_audit_chain(principal, container_of(request))
    return render(request, "_audit_verify.html", principal, result=result)


@router.get("/audit/export")
def export(request: Request, principal: Auditor) -> Response:
    """The NDJSON CloudEvents download (``GET /v1/audit/export``)."""
    return export_audit_events(principal, container_of(request))


def _history(request: Request, principal: Principal, kind: str, rid: UUID) -> HistoryPublic:
    events = get_history(kind, rid, principal, container_of(request))
    assert isinstance(events, HistoryPublic)
    return events


def _state(request: Request, principal: Principal, kind: str, rid: UUID, v: int) -> StatePublic:
    state = get_history(kind, rid, principal, container_of(request), as_of=str(v))
    assert isinstance(state, StatePublic)
    return state


def _as_of(
    request: Request, principal: Principal, kind: str, rid: UUID, history: HistoryPublic, v: int
) -> dict[str, Any]:
    """The state at version ``v``, the events after it and how the state changed since."""
    last = history.events[-1].version
    v = min(max(v, 1), last)
    then = _state(request, principal, kind, rid, v)
    now = then if v == last else _state(request, principal, kind, rid, last)
    rows = [r for r in diff_rows(as_text(then.state), as_text(now.state)) if r.kind != "same"]
    return {"version": v, "then": then, "since": [e for e in history.events if e.version > v],
            "changes": rows, "last": last}  # fmt: skip


Version = Annotated[int | None, Query(ge=1, le=2**31 - 1)]
Kind = Annotated[str, Query(max_length=100)]


@router.get("/history/{resource_type}/{resource_id}", response_class=HTMLResponse)
def history_page(
    request: Request, resource_type: str, resource_id: UUID, principal: Auditor, v: Version = None
) -> HTMLResponse:
    """A resource's events, with a slider over its change times (``GET /v1/history/...``)."""
    kind = resource_type[:100]
    history = _history(request, principal, kind, resource_id)
    at = _as_of(request, principal, kind, resource_id, history, v or history.events[-1].version)
    return render(request, "history.html", principal, history=history, at=at)


@router.get("/history/{resource_type}/{resource_id}/at", response_class=HTMLResponse)
def history_at(
    request: Request, resource_type: str, resource_id: UUID, principal: Auditor, v: Version = None
) -> HTMLResponse:
    """The slider's partial: the state as of version ``v`` and what changed since."""
    kind = resource_type[:100]
    history = _history(request, principal, kind, resource_id)
    at = _as_of(request, principal, kind, resource_id, history, v or history.events[-1].version)
    return render(request, "_history_at.html", principal, history=history, at=at)
