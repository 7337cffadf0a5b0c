"""Delivery outcomes as domain events: load what a send needs, record sent or failed.

The domain side of the dispatcher (`engine.delivery.dispatcher`): it runs on worker threads,
reads the notification, its tenant (cached briefly) and the recipient's preferences, and saves
the notification's ``mark_sent`` / ``mark_failed``, re-reading on a racing write.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from domain.identity.tenants import Tenant
from domain.kernel.actor import Actor, acting_as
from domain.kernel.errors import NotFoundError
from domain.messaging.notifications import Notification
from engine.delivery.channels import DeliveryResult, Message, PermanentDeliveryError
from engine.delivery.config import (
    ADDRESS_KEY,
    MUTE_KEY,
    RATE_LIMIT_KEY,
    DispatcherConfig,
    channel_key,
    truthy,
)
from engine.delivery.outbox import OutboxRow
from engine.steps import egress

if TYPE_CHECKING:
    from domain.platform import Platform

log = logging.getLogger(__name__)

ADDRESSED_CHANNELS = ("email", "sms", "push")
"""Channels whose recipient address comes from the user (webhooks post to the tenant's)."""


@dataclass(frozen=True)
class Prepared:
    """A row ready to send: the message, the channel's config and the tenant's rate limit."""

    message: Message
    config: Mapping[str, Any]
    rate: float
    burst: float
    notification: Notification
    egress_only: egress.AllowList | None = None
    """The tenant's ``egress.allow``: its HTTP channels reach only what matches it as well."""



class DeliveryRecords:
    """The notifications' side of delivery, for one dispatcher (``app``: a Platform on the
    system role)."""

    def __init__(self, app: Platform, config: DispatcherConfig) -> None:
        self.app = app
        self.config = config
        self._tenants: dict[UUID, tuple[float, Tenant]] = {}
        self._tenants_lock = threading.Lock()

    def _actor(self, row: OutboxRow) -> Actor:
        return Actor(
            kind="worker",
            tenant_id=str(row.tenant_id),
            user_agent=f"platinum-dispatcher/{self.config.worker_id}",
        )

    def _tenant(self, tenant_id: UUID) -> Tenant:
        now = time.monotonic()
        with self._tenants_lock:
            cached = self._tenants.get(tenant_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        tenant = self.app.get_tenant(tenant_id)
        with self._tenants_lock:
            self._tenants[tenant_id] = (now + self.config.tenant_cache_s, tenant)
        return tenant

    def _preference(self, notification: Notification, key: str) -> str | None:
        try:
            pref = self.app.get_preference(
                notification.tenant_id, notification.recipient_user_id, key
            )
        except NotFoundError:
            return None
        return pref.value

    def prepare(self, row: OutboxRow) -> Prepared | None:
        """Load what the send needs; None when no send is needed (the notification is gone or
        already has an outcome). Raises PermanentDeliveryError when it cannot be sent."""
        try:
            n = self.app.get_notification(row.tenant_id, row.notification_id)
        except NotFoundError:
            log.warning("outbox row %s names no notification", row.id)
            return None
        if n.status != "pending":
            return None
        tenant = self._tenant(row.tenant_id)
        if not tenant.is_active:
            raise PermanentDeliveryError(f"tenant is {tenant.status}")
        try:
            recipient = self.app.get_user(n.tenant_id, n.recipient_user_id)
        except NotFoundError:
            raise PermanentDeliveryError("the recipient does not exist") from None
        if recipient.erased:  # their address and the message's text are gone with their key
            raise PermanentDeliveryError("the recipient was erased")
        mute_key = MUTE_KEY.format(channel=n.channel)
        if truthy(self._preference(n, mute_key)):
            raise PermanentDeliveryError(f"muted by the recipient ({mute_key})")
        config = tenant.config.get(channel_key(n.channel))
        if not isinstance(config, Mapping) or not config:
            raise PermanentDeliveryError(
                f"channel {n.channel!r} is not configured ({channel_key(n.channel)})"
            )
        to = None
        if n.channel in ADDRESSED_CHANNELS:
            to = self._preference(n, ADDRESS_KEY.format(channel=n.channel))
        if to is None and n.channel == "email":
            to = recipient.email
        only = None
        entries = tenant.config.get(egress.TENANT_CONFIG_KEY)
        if entries is not None:
            try:
                only = egress.AllowList.parse(entries)
            except egress.EgressError as e:
                raise PermanentDeliveryError(
                    f"tenant config {egress.TENANT_CONFIG_KEY}: {e}"
                ) from None
        limits = tenant.config.get(RATE_LIMIT_KEY)
        limits = limits if isinstance(limits, Mapping) else {}
        return Prepared(
            message=Message(
                notification_id=n.id,
                tenant_id=n.tenant_id,
                channel=n.channel,
                priority=n.priority,
                type=n.type,
                to=to,
                title=n.title,
                body=n.message,
            ),
            config=config,
            rate=float(limits.get("per_second", self.config.rate_per_second)),
            burst=float(limits.get("burst", self.config.rate_burst)),
            notification=n,
            egress_only=only,
        )

    def _update(
        self,
        row: OutboxRow,
        change: Callable[[Notification], None],
        loaded: Notification | None = None,
    ) -> None:
        """Apply ``change`` to a pending notification and save; a racing write is re-read."""
        with acting_as(self._actor(row)):
            for attempt in range(3):
                n = loaded or self.app.get_notification(row.tenant_id, row.notification_id)
                loaded = None
                if n.status != "pending":
                    return  # another dispatcher already recorded an outcome
                change(n)
                try:
                    self.app.save(n)
                except IntegrityError:
                    if attempt == 2:
                        raise
                else:
                    return

    def record_sent(
        self, row: OutboxRow, result: DeliveryResult, loaded: Notification | None = None
    ) -> None:
        def change(n: Notification) -> None:
            n.mark_sent(at=result.sent_at, provider_id=result.provider_id)
            if result.delivered_at is not None:
                n.mark_delivered(at=result.delivered_at)

        self._update(row, change, loaded)

    def record_failed(
        self, row: OutboxRow, reason: str, permanent: bool, loaded: Notification | None = None
    ) -> None:
        self._update(
            row, lambda n: n.mark_failed(reason=reason[:1000], permanent=permanent), loaded
        )
