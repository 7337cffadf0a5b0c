"""Notification delivery: outbox dispatcher and channel adapters (see docs/notifications.md)."""

from engine.delivery.channels import (
    Channel,
    DeliveryError,
    DeliveryResult,
    Message,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from engine.delivery.config import DispatcherConfig
from engine.delivery.dispatcher import Dispatcher

__all__ = [
    "Channel",
    "DeliveryError",
    "DeliveryResult",
    "Dispatcher",
    "DispatcherConfig",
    "Message",
    "PermanentDeliveryError",
    "TransientDeliveryError",
]
