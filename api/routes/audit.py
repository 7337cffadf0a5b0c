"""Auditors: the tenant's audit log (filter, verify, export) and any aggregate's history."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from api.audit_hooks import audit_sensitive_read
from api.auth import Principal, require, tenant_of
from api.bodies import invalid
from api.boundary import ascii_int
from api.composition import Container
from api.deps import ContainerDep
from api.pagination import Page, PageDep
from api.readdb import tenant_tx
from api.schemas.audit import (
    AuditEventPublic,
    BrokenLinkPublic,
    HistoryEventPublic,
    HistoryPublic,
    StatePublic,
    VerifyPublic,
)
from domain.kernel.errors import NotFoundError
from projections.audit.history import HistoryNotFoundError, aggregate_events, state_as_of
from projections.queries import audit

router = APIRouter(prefix="/v1/audit", tags=["audit"])
history_router = APIRouter(prefix="/v1/history", tags=["audit"])

Auditor = Annotated[Principal, Depends(require("audit:read"))]


@router.get("/events", response_model=Page[AuditEventPublic])
def list_audit_events(
    principal: Auditor,
    container: ContainerDep,
    page: PageDep,
    since: Annotated[datetime | None, Query(description="At or after (RFC 3339).")] = None,
    until: Annotated[datetime | None, Query(description="Before (RFC 3339).")] = None,
    user_id: UUID | None = None,
    action: Annotated[
        str | None, Query(max_length=100, description="e.g. Workflow.Created")
    ] = None,
    resource_type: Annotated[str | None, Query(max_length=100)] = None,
    resource_id: Annotated[str | None, Query(max_length=255)] = None,
) -> Page[AuditEventPublic]:
    """The tenant's audit events, oldest first, filtered by time, user, action, resource."""
    with tenant_tx(container.read_pool, tenant_of(principal)) as conn:
        rows, next_cursor = audit.list_events(
            conn, page, since=since, until=until, user_id=user_id, action=action,
            resource_type=resource_type, resource_id=resource_id,
        )  # fmt: skip
    # who read the audit log is itself audited (resource_id "*": the log, not one resource,
    # so a search by resource id finds the resource's own rows only)
    audit_sensitive_read(
        container, principal, resource_type="audit_events", resource_id="*", fields=["details"]
    )
    return Page(items=[AuditEventPublic(**r) for r in rows], next_cursor=next_cursor)


@router.get("/verify", response_model=VerifyPublic)
def verify_audit_chain(principal: Auditor, container: ContainerDep) -> VerifyPublic:
    """Recompute the tenant's hash chains: ``{ok, events, head}`` or the first broken link."""
    from projections.audit.chain import StoredEvents, verify_chain

    tenant_id = tenant_of(principal)
    events = StoredEvents(container.event_apps())  # each row against its stored event
    with tenant_tx(container.read_pool, tenant_id) as conn:
        result = verify_chain(conn, tenant_id, events=events)
    b = result.broken
    broken = (
        None
        if b is None
        else BrokenLinkPublic(id=b.id, seq=b.seq, source=b.source, reason=b.reason)
    )
    return VerifyPublic(ok=result.ok, events=result.events, head=result.head, broken=broken)


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}, "description": "NDJSON"}},
)
def export_audit_events(principal: Auditor, container: ContainerDep) -> StreamingResponse:
    """The tenant's audit events as NDJSON CloudEvents (streamed, chain order)."""
    from projections.audit.export import iter_cloudevents

    tenant_id = tenant_of(principal)
    audit_sensitive_read(
        container, principal, resource_type="audit_log", resource_id=tenant_id, fields=("export",)
    )

    def lines() -> Iterator[str]:
        # the connection stays checked out only while the client reads the stream
        with tenant_tx(container.read_pool, tenant_id) as conn:
            yield from iter_cloudevents(conn, tenant_id)

    return StreamingResponse(
        lines(),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="audit-{tenant_id}.ndjson"'},
    )


def _as_of(value: str) -> tuple[int | None, datetime | None]:
    """``?as_of=`` is a version (a positive integer) or an RFC 3339 time."""
    if (version := ascii_int(value)) is not None:
        if version < 1:
            raise invalid([("#query/as_of", "a version is 1 or more")])
        return version, None
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise invalid([("#query/as_of", "must be a version number or an RFC 3339 time")]) from None
    if at.tzinfo is None:
        raise invalid([("#query/as_of", "the time needs a UTC offset (e.g. Z)")])
    return None, at


@history_router.get("/{resource_type}/{resource_id}", response_model=HistoryPublic | StatePublic)
def get_history(
    resource_type: str,
    resource_id: UUID,
    principal: Auditor,
    container: ContainerDep,
    as_of: Annotated[
        str | None, Query(description="A version number or an RFC 3339 time: the state then.")
    ] = None,
) -> HistoryPublic | StatePublic:
    """An aggregate's events in order; with ``as_of``, its state at that version or time."""
    tenant_id, apps = tenant_of(principal), container.event_apps()
    version, at = _as_of(as_of) if as_of is not None else (None, None)
    try:
        with tenant_tx(container.read_pool, tenant_id) as conn:
            if as_of is None:
                events = aggregate_events(
                    apps, conn, tenant_id, resource_id, resource_type=resource_type
                )
            else:
                state = state_as_of(apps, conn, tenant_id, resource_id, version=version, at=at,
                                    resource_type=resource_type)  # fmt: skip
    except HistoryNotFoundError as e:
        raise NotFoundError(resource_type, resource_id) from e
    part = "events" if as_of is None else "state"
    _audit_history_read(container, principal, resource_type, resource_id, part)
    if as_of is None:
        return HistoryPublic(resource_type=resource_type, id=resource_id,
                             events=[HistoryEventPublic(**vars(e)) for e in events])  # fmt: skip
    return StatePublic(resource_type=resource_type, id=state.id, version=state.version,
                       time=state.time, state=state.state)  # fmt: skip


def _audit_history_read(
    container: Container, principal: Principal, resource_type: str, resource_id: UUID, part: str
) -> None:
    """A history read (any aggregate, e.g. another user's conversation) is a sensitive read."""
    audit_sensitive_read(
        container, principal, resource_type=resource_type[:100], resource_id=resource_id,
        fields=[f"history.{part}"],
    )  # fmt: skip
