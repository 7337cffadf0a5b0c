"""Commands and queries for notifications and conversation turns."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from domain.identity.application import IdentityCommands
from domain.kernel import validators as v
from domain.kernel.errors import NotFoundError, ValidationError
from domain.kernel.ids import notification_id
from domain.messaging.commands import RecordConversation, SendNotification
from domain.messaging.conversations import Conversation
from domain.messaging.notifications import CHANNELS, PRIORITIES, Notification


def _short(max_len: int) -> Any:
    return lambda value, pointer: v.text(value, pointer, max_len=max_len)


def _long_text(value: Any, pointer: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError.one(pointer, "must be a non-empty string")
    if len(value) > v.LONG_TEXT_MAX:
        raise ValidationError.one(pointer, f"must be at most {v.LONG_TEXT_MAX} characters")
    return str(v.storable(value, pointer))


class MessagingCommands(IdentityCommands):
    """Notifications (with dispatcher callbacks) and AI conversation history."""

    def send_notification(self, cmd: SendNotification) -> Notification:
        """Queue a notification (status ``pending``) for a user of the same tenant."""
        c = v.Checks()
        type_ = c.run(_short(50), cmd.type, "/type")
        title = c.run(_short(255), cmd.title, "/title")
        message = c.run(_long_text, cmd.message, "/message")
        channel = c.run(v.one_of(CHANNELS), cmd.channel, "/channel")
        priority = c.run(v.one_of(PRIORITIES), cmd.priority, "/priority")
        try:
            self.get_user(cmd.tenant_id, cmd.recipient_user_id)
        except NotFoundError:
            c.add("/recipient_user_id", "no such user")
        c.done()
        fields = {
            "tenant_id": cmd.tenant_id,
            "recipient_user_id": cmd.recipient_user_id,
            "type": type_,
            "title": title,
            "message": message,
            "channel": channel,
            "priority": priority,
        }
        if cmd.idempotency_key is None:
            fresh = Notification(**fields)
            self._save(fresh)
            return fresh
        # Deterministic id: a second request with the key finds (or clashes with) the first.
        nid = notification_id(cmd.tenant_id, cmd.idempotency_key)
        try:
            return self.get_notification(cmd.tenant_id, nid)
        except NotFoundError:
            pass
        notification: Notification = Notification._create(Notification.Created, id=nid, **fields)
        try:
            self.save(notification)
        except IntegrityError:
            return self.get_notification(cmd.tenant_id, nid)
        return notification

    def get_notification(self, tenant_id: UUID, notification_id: UUID) -> Notification:
        return self._load_scoped(Notification, tenant_id, notification_id, "notification")

    def mark_notification_sent(
        self,
        tenant_id: UUID,
        notification_id: UUID,
        provider_id: str | None = None,
        at: datetime | None = None,
    ) -> Notification:
        notification = self.get_notification(tenant_id, notification_id)
        notification.mark_sent(at=at or self.now(), provider_id=provider_id)
        self._save(notification)
        return notification

    def mark_notification_delivered(
        self, tenant_id: UUID, notification_id: UUID, at: datetime | None = None
    ) -> Notification:
        notification = self.get_notification(tenant_id, notification_id)
        notification.mark_delivered(at=at or self.now())
        self._save(notification)
        return notification

    def mark_notification_failed(
        self, tenant_id: UUID, notification_id: UUID, reason: str, *, permanent: bool
    ) -> Notification:
        notification = self.get_notification(tenant_id, notification_id)
        notification.mark_failed(reason=reason, permanent=permanent)
        self._save(notification)
        return notification

    def mark_notification_read(
        self, tenant_id: UUID, notification_id: UUID, reader_id: UUID | None = None
    ) -> Notification:
        """Mark read; with ``reader_id``, only the recipient may (others get NotFound)."""
        notification = self.get_notification(tenant_id, notification_id)
        if reader_id is not None and reader_id != notification.recipient_user_id:
            raise NotFoundError("notification", notification_id)
        notification.mark_read(at=self.now())
        self._save(notification)
        return notification

    def record_conversation(self, cmd: RecordConversation) -> Conversation:
        c = v.Checks()
        session_id = c.run(_short(255), cmd.session_id, "/session_id")
        input_text = c.run(_long_text, cmd.input_text, "/input_text")
        output_text = c.run(_long_text, cmd.output_text, "/output_text")
        context = c.run(v.optional_json_object, cmd.context_data, "/context_data")
        try:
            self.get_user(cmd.tenant_id, cmd.user_id)
        except NotFoundError:
            c.add("/user_id", "no such user")
        c.done()
        conversation = Conversation(
            tenant_id=cmd.tenant_id,
            user_id=cmd.user_id,
            session_id=session_id,
            input_text=input_text,
            output_text=output_text,
            context_data=context,
        )
        self._save(conversation)
        return conversation

    def get_conversation(self, tenant_id: UUID, conversation_id: UUID) -> Conversation:
        return self._load_scoped(Conversation, tenant_id, conversation_id, "conversation")
