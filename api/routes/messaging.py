"""Notifications (own inbox; managers send) and conversation turns (own; reads are audited)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response, status

from api.audit_hooks import audit_sensitive_read
from api.auth import Principal, require, require_user, tenant_of, user_of
from api.composition import Container
from api.deps import ContainerDep
from api.etag import set_etag
from api.pagination import Page, PageDep
from api.readdb import tenant_tx
from api.schemas.messaging import (
    ConversationCreate,
    ConversationPublic,
    NotificationCreate,
    NotificationPublic,
)
from domain.kernel.actor import acting_as
from domain.kernel.errors import NotFoundError
from domain.messaging.commands import RecordConversation, SendNotification
from projections.queries import conversations, notifications

notifications_router = APIRouter(prefix="/v1/notifications", tags=["notifications"])
conversations_router = APIRouter(prefix="/v1/conversations", tags=["conversations"])

Reader = Annotated[Principal, Depends(require_user("notifications:read"))]
Sender = Annotated[Principal, Depends(require("notifications:send"))]
Talker = Annotated[Principal, Depends(require_user("conversations:write"))]


def _notification(row: dict[str, Any]) -> NotificationPublic:
    return NotificationPublic(
        **{**row, "channel": str(row["channel"]), "priority": str(row["priority"]),
           "status": str(row["status"])}
    )  # fmt: skip


def read_notification(
    container: Container, tenant_id: UUID, notification_id: UUID
) -> dict[str, Any]:
    with tenant_tx(container.read_pool, tenant_id) as conn:
        row = notifications.notification(conn, notification_id)
    if row is None:
        raise NotFoundError("notification", notification_id)
    return row


# -- notifications -------------------------------------------------------------------------


@notifications_router.get("", response_model=Page[NotificationPublic])
def list_notifications(
    principal: Reader,
    container: ContainerDep,
    page: PageDep,
    unread: Annotated[bool | None, Query(description="Only unread (true) or read (false).")] = None,
) -> Page[NotificationPublic]:
    """Your notifications, newest first."""
    user_id = user_of(principal)
    with tenant_tx(container.read_pool, tenant_of(principal)) as conn:
        rows, next_cursor = notifications.inbox(conn, page, user_id, unread=unread)
    return Page(items=[_notification(r) for r in rows], next_cursor=next_cursor)


@notifications_router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=NotificationPublic
)
def send_notification(
    body: NotificationCreate, principal: Sender, container: ContainerDep, response: Response
) -> NotificationPublic:
    """Send a notification to a user of your tenant (queued for delivery)."""
    tenant_id = tenant_of(principal)
    with acting_as(principal.actor):
        notification = container.platform.send_notification(
            SendNotification(tenant_id=tenant_id, **body.model_dump())
        )
    container.wait_caught_up()
    row = read_notification(container, tenant_id, notification.id)
    response.headers["Location"] = f"/v1/notifications/{notification.id}"
    set_etag(response, row["version"])
    return _notification(row)


@notifications_router.post("/{notification_id}/read", response_model=NotificationPublic)
def mark_read(
    notification_id: UUID, principal: Reader, container: ContainerDep, response: Response
) -> NotificationPublic:
    """Mark one of your notifications read (idempotent)."""
    tenant_id, user_id = tenant_of(principal), user_of(principal)
    with acting_as(principal.actor):
        container.platform.mark_notification_read(tenant_id, notification_id, reader_id=user_id)
    container.wait_caught_up()
    row = read_notification(container, tenant_id, notification_id)
    set_etag(response, row["version"])
    return _notification(row)


# -- conversations -------------------------------------------------------------------------


@conversations_router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=ConversationPublic
)
def record_conversation(
    body: ConversationCreate, principal: Talker, container: ContainerDep, response: Response
) -> ConversationPublic:
    """Record one conversation turn of yours."""
    tenant_id = tenant_of(principal)
    with acting_as(principal.actor):
        turn = container.platform.record_conversation(
            RecordConversation(tenant_id=tenant_id, user_id=user_of(principal), **body.model_dump())
        )
    response.headers["Location"] = "/v1/conversations?" + urlencode({"session_id": turn.session_id})
    return ConversationPublic(
        id=turn.id,
        user_id=turn.user_id,
        session_id=turn.session_id,
        input_text=turn.input_text,
        output_text=turn.output_text,
        context_data=turn.context_data,
        created_at=turn.created_on,
    )


@conversations_router.get("", response_model=Page[ConversationPublic])
def list_conversations(
    principal: Talker,
    container: ContainerDep,
    page: PageDep,
    session_id: Annotated[str | None, Query(max_length=255)] = None,
) -> Page[ConversationPublic]:
    """Your conversation turns (of one ``session_id``), oldest first; the read is audited."""
    tenant_id, user_id = tenant_of(principal), user_of(principal)
    container.wait_caught_up()
    with tenant_tx(container.read_pool, tenant_id) as conn:
        rows, next_cursor = conversations.turns(conn, page, user_id, session_id=session_id)
    # conversation text is sensitive: every read of it goes to the audit log
    audit_sensitive_read(
        container,
        principal,
        resource_type="conversation",
        resource_id=f"session:{session_id}" if session_id is not None else "*",
        fields=("input_text", "output_text", "context_data"),
    )
    return Page(items=[ConversationPublic(**r) for r in rows], next_cursor=next_cursor)
