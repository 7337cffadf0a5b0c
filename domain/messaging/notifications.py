"""Notification: a message to a user on one channel, with its delivery history."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from domain.kernel import lifecycle
from domain.kernel.base import PlatinumAggregate
from domain.kernel.errors import TransitionError

CHANNELS = ("email", "sms", "push", "slack", "discord")
PRIORITIES = ("low", "medium", "high", "urgent")


class Notification(PlatinumAggregate):
    """A notification; ``status`` follows delivery, ``read_at`` is independent of it."""

    class Sent(PlatinumAggregate.Event):
        """Handed to a provider. v2 added ``provider_id``; v1 events read back with None."""

        class_version = 2
        at: datetime
        provider_id: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["provider_id"] = None

    @event("Created")
    def __init__(
        self,
        tenant_id: UUID,
        recipient_user_id: UUID,
        type: str,
        title: str,
        message: str,
        channel: str,
        priority: str,
    ) -> None:
        self.tenant_id = tenant_id
        self.recipient_user_id = recipient_user_id
        self.type = type
        self.title = title
        self.message = message
        self.channel = channel
        self.priority = priority
        self.status = lifecycle.NOTIFICATION.initial
        self.attempts = 0
        self.provider_id: str | None = None
        self.failure_reason: str | None = None
        self.sent_at: datetime | None = None
        self.delivered_at: datetime | None = None
        self.read_at: datetime | None = None

    def mark_sent(self, at: datetime, provider_id: str | None = None) -> None:
        lifecycle.NOTIFICATION.check(self.id, self.status, "sent")
        self._sent(at=at, provider_id=provider_id)

    @event(Sent)
    def _sent(self, at: datetime, provider_id: str | None) -> None:
        self.status = "sent"
        self.attempts += 1
        self.sent_at = at
        self.provider_id = provider_id

    def mark_delivered(self, at: datetime) -> None:
        lifecycle.NOTIFICATION.check(self.id, self.status, "delivered")
        self._delivered(at=at)

    @event("Delivered")
    def _delivered(self, at: datetime) -> None:
        self.status = "delivered"
        self.delivered_at = at

    def mark_failed(self, reason: str, permanent: bool) -> None:
        """Record a failed attempt; only a permanent failure ends delivery."""
        if lifecycle.NOTIFICATION.is_final(self.status):
            raise TransitionError("notification", self.id, self.status, "failed")
        self._failed(reason=reason, permanent=permanent)

    @event("DeliveryFailed")
    def _failed(self, reason: str, permanent: bool) -> None:
        # a send that fails before reaching the provider is still an attempt
        if self.status == "pending":
            self.attempts += 1
        self.failure_reason = reason
        if permanent:
            self.status = "failed"

    def mark_read(self, at: datetime) -> None:
        """Idempotent: reading twice keeps the first time."""
        if self.read_at is None:
            self._read(at=at)

    @event("Read")
    def _read(self, at: datetime) -> None:
        self.read_at = at
