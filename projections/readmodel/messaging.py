"""Read-model handlers of messaging: ``notifications`` and ``conversations``."""

from __future__ import annotations

from typing import Any

from projections.batch import Cursor
from projections.jsonutil import jsonb, text
from projections.readmodel.handlers import on, touch


@on("Notification.Created")
def _notification_created(curs: Cursor, e: Any) -> None:
    curs.execute(
        "INSERT INTO notifications (id, tenant_id, recipient_user_id, type, title, message,"
        " channel, priority, status, version, created_at, updated_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'pending', %s, %s, %s)",
        (
            e.originator_id, e.tenant_id, e.recipient_user_id, e.type, text(e.title),
            text(e.message), e.channel, e.priority, e.originator_version, e.timestamp,
            e.timestamp,
        ),
    )  # fmt: skip


@on("Notification.Sent")
def _notification_sent(curs: Cursor, e: Any) -> None:
    curs.execute(
        "UPDATE notifications SET status = 'sent', attempts = attempts + 1, sent_at = %s,"
        " provider_id = %s, version = %s, updated_at = %s WHERE id = %s",
        (e.at, e.provider_id, e.originator_version, e.timestamp, e.originator_id),
    )


@on("Notification.Delivered")
def _notification_delivered(curs: Cursor, e: Any) -> None:
    touch(curs, "notifications", e, {"status": "delivered", "delivered_at": e.at})


@on("Notification.DeliveryFailed")
def _notification_failed(curs: Cursor, e: Any) -> None:
    curs.execute(
        "UPDATE notifications SET"
        " attempts = attempts + CASE WHEN status = 'pending' THEN 1 ELSE 0 END,"
        " failure_reason = %s,"
        " status = CASE WHEN %s THEN 'failed'::notification_status ELSE status END,"
        " version = %s, updated_at = %s WHERE id = %s",
        (text(e.reason), e.permanent, e.originator_version, e.timestamp, e.originator_id),
    )


@on("Notification.Read")
def _notification_read(curs: Cursor, e: Any) -> None:
    touch(curs, "notifications", e, {"read_at": e.at})


@on("Conversation.Recorded")
def _conversation(curs: Cursor, e: Any) -> None:
    curs.execute(
        "INSERT INTO conversations (id, tenant_id, user_id, session_id, input_text, output_text,"
        " context_data, version, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            e.originator_id, e.tenant_id, e.user_id, text(e.session_id), text(e.input_text),
            text(e.output_text), jsonb(e.context_data), e.originator_version, e.timestamp,
        ),
    )  # fmt: skip
