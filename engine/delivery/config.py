"""Configuration keys of notification delivery and the dispatcher's knobs."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

CHANNEL_KEY = "notifications.{channel}"
"""Tenant config key holding one channel's settings, e.g. ``notifications.email``."""

RATE_LIMIT_KEY = "notifications.rate_limit"
"""Tenant config ``{"per_second": float, "burst": int}``: outgoing messages of the tenant."""

MUTE_KEY = "notifications.mute.{channel}"
"""User preference; ``"true"`` mutes the channel (recorded as a permanent failure)."""

ADDRESS_KEY = "notifications.address.{channel}"
"""User preference: the phone number (sms), device token (push) or email override."""


def channel_key(channel: str) -> str:
    return CHANNEL_KEY.format(channel=channel)


def truthy(value: Any) -> bool:
    return str(value).strip().lower() in ("true", "1", "yes", "on")


def _default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class DispatcherConfig:
    """How a dispatcher claims, paces and retries. Times are in seconds."""

    worker_id: str = field(default_factory=_default_worker_id)
    batch_size: int = 20
    concurrency: int = 4
    lease_s: float = 30.0
    poll_interval_s: float = 0.5
    send_timeout_s: float = 20.0
    max_attempts: int = 8
    backoff_base_s: float = 2.0
    backoff_max_s: float = 900.0
    rate_per_second: float = 20.0
    rate_burst: int = 40
    tenant_cache_s: float = 5.0
    only_tenants: frozenset[UUID] | None = None
    """Serve only these tenants (a dedicated dispatcher); None serves every tenant."""
