"""Channel adapters: one small interface, one class per provider kind.

An adapter turns a :class:`Message` and the tenant's channel configuration into one provider
call. It returns a :class:`DeliveryResult` or raises :class:`TransientDeliveryError` (worth
retrying: timeouts, connection errors, 5xx, 429) or :class:`PermanentDeliveryError` (4xx,
rejected recipient, missing configuration). The notification id travels as the idempotency
key, so a provider can drop the duplicate of an at-least-once redelivery.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol
from uuid import UUID

import httpx

from domain.kernel.clock import utc_now
from engine.errors import EngineError
from engine.steps import egress, egress_clients

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Message:
    """What to deliver, already resolved to an address on the channel."""

    notification_id: UUID
    tenant_id: UUID
    channel: str
    priority: str
    type: str
    to: str | None
    title: str
    body: str

    @property
    def idempotency_key(self) -> str:
        return str(self.notification_id)


@dataclass(frozen=True)
class DeliveryResult:
    """The provider's answer: its id for the message and the times it reports."""

    sent_at: datetime
    provider_id: str | None = None
    delivered_at: datetime | None = None


class DeliveryError(EngineError):
    """Root of delivery errors; ``reason`` is recorded on the notification."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class TransientDeliveryError(DeliveryError):
    """Try again later; ``retry_after`` (seconds) is the provider's hint, when it gave one."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(reason)


class PermanentDeliveryError(DeliveryError):
    """Retrying cannot help (bad address, rejected content, channel not configured)."""


class Channel(Protocol):
    """Delivers one message with the tenant's configuration for this channel."""

    name: str

    async def send(self, message: Message, config: Mapping[str, Any]) -> DeliveryResult: ...


def require(config: Mapping[str, Any], *keys: str) -> list[Any]:
    """The values of required config keys, or a permanent error naming the missing ones."""
    missing = [k for k in keys if not config.get(k)]
    if missing:
        raise PermanentDeliveryError(f"channel configuration lacks {', '.join(missing)}")
    return [config[k] for k in keys]


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - utc_now()).total_seconds())


def _http_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _iso_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


class HttpChannel:
    """Shared HTTP plumbing: one POST, status codes mapped onto the error classes."""

    name = "http"

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def post(self, url: str, message: Message, **kwargs: Any) -> httpx.Response:
        headers = {"Idempotency-Key": message.idempotency_key, **kwargs.pop("headers", {})}
        try:
            response = await self.client.post(url, headers=headers, **kwargs)
        except (httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout) as exc:
            raise TransientDeliveryError(f"{self.name}: timeout ({type(exc).__name__})") from exc
        except (httpx.TransportError, httpx.InvalidURL) as exc:
            # refused, closed, unreachable, blocked by the egress policy: one text (no port
            # scanning through a webhook URL); the details go to the server log only
            log.info("%s: %s: %r", self.name, message.notification_id, exc)
            if isinstance(exc.__cause__, egress.EgressNarrowedError):
                # outside the tenant's own egress.allow: retrying cannot help
                raise PermanentDeliveryError(f"{self.name}: {egress.REFUSED}") from None
            raise TransientDeliveryError(f"{self.name}: {egress.REFUSED}") from None
        status = response.status_code
        if status == 429 or status == 408 or status >= 500:
            raise TransientDeliveryError(
                f"{self.name}: HTTP {status} {_snippet(response)}".rstrip(),
                retry_after=_retry_after(response.headers.get("Retry-After")),
            )
        if status >= 400:
            reason = f"{self.name}: HTTP {status} {_snippet(response)}"
            raise PermanentDeliveryError(reason.rstrip())
        return response

    @staticmethod
    def answered_at(response: httpx.Response) -> datetime:
        return _http_time(response.headers.get("Date")) or utc_now()


def _snippet(response: httpx.Response) -> str:
    return response.text[:200].replace("\n", " ")


class SlackChannel(HttpChannel):
    """Slack incoming webhook: ``{"webhook_url"}``; a 200 "ok" means posted to the channel."""

    name = "slack"

    async def send(self, message: Message, config: Mapping[str, Any]) -> DeliveryResult:
        (url,) = require(config, "webhook_url")
        payload = {"text": f"*{message.title}*\n{message.body}"}
        response = await self.post(url, message, json=payload)
        at = self.answered_at(response)
        return DeliveryResult(sent_at=at, delivered_at=at, provider_id=None)


class DiscordChannel(HttpChannel):
    """Discord webhook: ``{"webhook_url"}``; ``?wait=true`` returns the created message."""

    name = "discord"

    async def send(self, message: Message, config: Mapping[str, Any]) -> DeliveryResult:
        (url,) = require(config, "webhook_url")
        payload = {"content": f"**{message.title}**\n{message.body}"[:2000]}
        response = await self.post(url, message, params={"wait": "true"}, json=payload)
        data = _json(response)
        at = _iso_time(data.get("timestamp")) or self.answered_at(response)
        provider_id = str(data["id"]) if data.get("id") is not None else None
        return DeliveryResult(sent_at=at, delivered_at=at, provider_id=provider_id)


class SmsChannel(HttpChannel):
    """Twilio-style Messages API: ``{"account_sid", "auth_token", "from", "base_url"}``."""

    name = "sms"
    default_base_url = "https://api.twilio.com"

    async def send(self, message: Message, config: Mapping[str, Any]) -> DeliveryResult:
        sid, token, sender = require(config, "account_sid", "auth_token", "from")
        if not message.to:
            raise PermanentDeliveryError("sms: recipient has no phone number")
        base = str(config.get("base_url") or self.default_base_url).rstrip("/")
        response = await self.post(
            f"{base}/2010-04-01/Accounts/{sid}/Messages.json",
            message,
            auth=(sid, token),
            headers={"I-Twilio-Idempotency-Token": message.idempotency_key},
            data={"To": message.to, "From": sender, "Body": f"{message.title}: {message.body}"},
        )
        data = _json(response)
        sent_at = _http_time(data.get("date_created")) or self.answered_at(response)
        delivered_at = None
        if data.get("status") == "delivered":
            delivered_at = _http_time(data.get("date_updated")) or sent_at
        return DeliveryResult(
            sent_at=sent_at, delivered_at=delivered_at, provider_id=data.get("sid")
        )


_FAST = ("urgent", "high")


class PushChannel(HttpChannel):
    """FCM HTTP v1 style: ``{"project_id", "access_token", "base_url"}``; ``to`` is the token."""

    name = "push"
    default_base_url = "https://fcm.googleapis.com"

    async def send(self, message: Message, config: Mapping[str, Any]) -> DeliveryResult:
        project, token = require(config, "project_id", "access_token")
        if not message.to:
            raise PermanentDeliveryError("push: recipient has no device token")
        base = str(config.get("base_url") or self.default_base_url).rstrip("/")
        payload = {
            "message": {
                "token": message.to,
                "notification": {"title": message.title, "body": message.body},
                "data": {
                    "notification_id": str(message.notification_id),
                    "type": message.type,
                    "priority": message.priority,
                },
                "android": {"priority": "high" if message.priority in _FAST else "normal"},
            }
        }
        response = await self.post(
            f"{base}/v1/projects/{project}/messages:send",
            message,
            headers={"Authorization": f"Bearer {token}"},
            json=payload,
        )
        name = _json(response).get("name")
        return DeliveryResult(sent_at=self.answered_at(response), provider_id=name)


def default_channels(
    client: httpx.AsyncClient, egress_policy: egress.EgressPolicy | None = None
) -> dict[str, Channel]:
    """Every built-in channel, keyed by the Notification's channel name.

    The HTTP channels' connections pass ``egress_policy`` (default: the process's configured
    one): a webhook URL cannot reach loopback, private or metadata addresses unless allowed.
    """
    from engine.delivery.smtp import EmailChannel

    egress_clients.guard(client, egress_policy)

    return {
        "email": EmailChannel(),
        "slack": SlackChannel(client),
        "discord": DiscordChannel(client),
        "sms": SmsChannel(client),
        "push": PushChannel(client),
    }
