"""Channel adapters against a fake HTTP provider and a local SMTP server (aiosmtpd)."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope

from engine.delivery.channels import (
    DeliveryResult,
    DiscordChannel,
    Message,
    PermanentDeliveryError,
    PushChannel,
    SlackChannel,
    SmsChannel,
    TransientDeliveryError,
)
from engine.delivery.smtp import EmailChannel, build_email

MESSAGE = Message(
    notification_id=uuid.uuid4(),
    tenant_id=uuid.uuid4(),
    channel="sms",
    priority="urgent",
    type="workflow",
    to="+15550100",
    title="Hi",
    body="Hello",
)


def send(
    channel_type: type,
    answer: Callable[[httpx.Request], httpx.Response],
    config: dict[str, Any],
    message: Message = MESSAGE,
) -> tuple[DeliveryResult, list[Any]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer(request)

    async def go() -> DeliveryResult:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            result: DeliveryResult = await channel_type(client).send(message, config)
            return result

    return asyncio.run(go()), seen


def test_sms_posts_the_message_with_the_idempotency_key_and_reads_the_delivery() -> None:
    answer = {"sid": "SM1", "status": "delivered", "date_created": "Wed, 01 Jan 2030 00:00:00 GMT"}
    config = {"account_sid": "AC1", "auth_token": "t", "from": "+1", "base_url": "https://sms.test"}
    result, seen = send(SmsChannel, lambda r: httpx.Response(201, json=answer), config)
    assert seen[0].url.path == "/2010-04-01/Accounts/AC1/Messages.json"
    assert seen[0].headers["I-Twilio-Idempotency-Token"] == str(MESSAGE.notification_id)
    assert result.provider_id == "SM1"
    assert result.delivered_at is not None
    assert result.delivered_at.year == 2030


def test_push_sends_a_fast_message_for_urgent_notifications() -> None:
    config = {"project_id": "p", "access_token": "a", "base_url": "https://push.test"}
    result, seen = send(PushChannel, lambda r: httpx.Response(200, json={"name": "m/1"}), config)
    assert b'"priority":"high"' in seen[0].content.replace(b" ", b"")
    assert seen[0].headers["Authorization"] == "Bearer a"
    assert result.provider_id == "m/1"


def test_discord_reads_the_created_message() -> None:
    answer = {"id": 42, "timestamp": "2030-01-01T00:00:00+00:00"}
    result, seen = send(DiscordChannel, lambda r: httpx.Response(200, json=answer),
                        {"webhook_url": "https://discord.test/hook"})  # fmt: skip
    assert seen[0].url.params["wait"] == "true"
    assert (result.provider_id, result.sent_at.year) == ("42", 2030)


def test_slack_counts_an_ok_as_delivered() -> None:
    result, _ = send(SlackChannel, lambda r: httpx.Response(200, text="ok"),
                     {"webhook_url": "https://slack.test/hook"})  # fmt: skip
    assert result.delivered_at == result.sent_at


@pytest.mark.parametrize(
    ("status", "headers", "error", "retry_after"),
    [(503, {"Retry-After": "7"}, TransientDeliveryError, 7.0),
     (429, {"Retry-After": "Wed, 01 Jan 2000 00:00:00 GMT"}, TransientDeliveryError, 0.0),
     (429, {"Retry-After": "soon"}, TransientDeliveryError, None),
     (404, {}, PermanentDeliveryError, None)],
)  # fmt: skip
def test_provider_statuses_map_onto_the_error_classes(
    status: int, headers: dict[str, str], error: type, retry_after: float | None
) -> None:
    with pytest.raises(error) as caught:
        send(SlackChannel, lambda r: httpx.Response(status, headers=headers, text="no"),
             {"webhook_url": "https://slack.test/hook"})  # fmt: skip
    assert getattr(caught.value, "retry_after", None) == retry_after


@pytest.mark.parametrize(
    ("raised", "error"),
    [(httpx.ReadTimeout("slow"), TransientDeliveryError),
     (httpx.ConnectError("refused"), TransientDeliveryError)],
)  # fmt: skip
def test_transport_failures_are_transient(raised: Exception, error: type) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise raised

    with pytest.raises(error):
        send(SlackChannel, fail, {"webhook_url": "https://slack.test/hook"})


def test_missing_configuration_and_addresses_are_permanent() -> None:
    ok: Callable[[httpx.Request], httpx.Response] = lambda r: httpx.Response(200)  # noqa: E731
    with pytest.raises(PermanentDeliveryError, match="lacks webhook_url"):
        send(SlackChannel, ok, {})
    nobody = Message(**{**MESSAGE.__dict__, "to": None})
    with pytest.raises(PermanentDeliveryError, match="no phone number"):
        send(SmsChannel, ok, {"account_sid": "a", "auth_token": "t", "from": "f"}, nobody)
    with pytest.raises(PermanentDeliveryError, match="no device token"):
        send(PushChannel, ok, {"project_id": "p", "access_token": "a"}, nobody)


# ---------------------------------------------------------------------------------- email


class Inbox:
    def __init__(self, reply: str | None = None) -> None:
        self.reply = reply
        self.mail: list[Envelope] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Envelope, address: str,  # noqa: N802
                          options: list[str]) -> str:  # fmt: skip
        if self.reply is not None:
            return self.reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:  # noqa: N802
        self.mail.append(envelope)
        return "250 queued as abc"


@pytest.fixture
def smtp() -> Iterator[Callable[[str | None], tuple[Inbox, int]]]:
    controllers: list[Controller] = []

    def start(reply: str | None = None) -> tuple[Inbox, int]:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        inbox = Inbox(reply)
        controller = Controller(inbox, hostname="127.0.0.1", port=port)
        controller.start()
        controllers.append(controller)
        return inbox, port

    yield start
    for c in controllers:
        c.stop()


def email_to(port: int, to: str | None = "ada@example.com") -> DeliveryResult:
    message = Message(**{**MESSAGE.__dict__, "channel": "email", "to": to})
    config = {"host": "127.0.0.1", "port": port, "from": "bot@example.com", "starttls": False}
    result: DeliveryResult = asyncio.run(EmailChannel(timeout_s=5).send(message, config))
    return result


def test_email_is_sent_over_smtp_with_the_notification_id_as_message_id(smtp: Any) -> None:
    inbox, port = smtp()
    result = email_to(port)
    assert result.provider_id is not None
    assert "queued as abc" in result.provider_id
    assert inbox.mail[0].rcpt_tos == ["ada@example.com"]
    assert f"<{MESSAGE.notification_id}@platinum.notifications>".encode() in inbox.mail[0].content


@pytest.mark.parametrize(
    ("reply", "error"),
    [("450 mailbox busy", TransientDeliveryError), ("550 no such user", PermanentDeliveryError)],
)
def test_smtp_refusals_are_transient_or_permanent_by_their_code(
    smtp: Any, reply: str, error: type
) -> None:
    _, port = smtp(reply)
    with pytest.raises(error, match="email: refused"):
        email_to(port)


def test_an_unreachable_smtp_server_is_transient_and_a_missing_address_permanent() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    with pytest.raises(TransientDeliveryError, match="email: "):
        email_to(closed)
    with pytest.raises(PermanentDeliveryError, match="no address"):
        email_to(closed, to=None)


def test_build_email_maps_the_priority() -> None:
    email = build_email(Message(**{**MESSAGE.__dict__, "priority": "low"}), "bot@example.com")
    assert email["X-Priority"] == "5"
    assert email["X-Platinum-Notification-Id"] == str(MESSAGE.notification_id)
