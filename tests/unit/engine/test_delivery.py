"""Delivery building blocks that need no server: redaction, backoff, status mapping."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from domain.kernel.secrets import REDACTED, redact
from engine.delivery import DispatcherConfig
from engine.delivery.channels import (
    Message,
    PermanentDeliveryError,
    SlackChannel,
    TransientDeliveryError,
    _retry_after,
)
from engine.delivery.dispatcher import Dispatcher


def test_the_secret_rule_hides_channel_credentials_at_any_depth_and_keeps_the_rest() -> None:
    config = {
        "theme": "dark",
        "notifications.email": {"host": "smtp.example.com", "port": 587, "password": "pw"},
        "notifications.slack": {"webhook_url": "https://hooks.slack.com/services/T/B/x"},
        "notifications.sms": {"account_sid": "AC1", "auth_token": "tok"},
        "notifications.push": {"project_id": "p", "access_token": "a", "keys": [{"secret": 1}]},
    }
    out = redact(config)
    assert out["theme"] == "dark"
    assert out["notifications.email"] == {"host": "smtp.example.com", "port": 587,
                                          "password": REDACTED}
    assert out["notifications.slack"]["webhook_url"] == REDACTED
    assert out["notifications.sms"] == {"account_sid": "AC1", "auth_token": REDACTED}
    assert out["notifications.push"]["access_token"] == REDACTED
    assert out["notifications.push"]["keys"] == [{"secret": REDACTED}]
    assert config["notifications.email"]["password"] == "pw"  # the input is untouched


def test_backoff_doubles_is_capped_and_honours_retry_after() -> None:
    d = Dispatcher(app=None, conninfo="", config=DispatcherConfig(  # type: ignore[arg-type]
        backoff_base_s=1.0, backoff_max_s=10.0))
    assert 0.75 <= d.backoff(1) <= 1.0
    assert 3.0 <= d.backoff(3) <= 4.0
    assert d.backoff(20) <= 10.0
    assert d.backoff(1, retry_after=7.0) == 7.0
    assert d.backoff(1, retry_after=99.0) == 10.0


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert _retry_after("3") == 3.0
    assert _retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert _retry_after("soon") is None
    assert _retry_after(None) is None


def _message() -> Message:
    return Message(uuid.uuid4(), uuid.uuid4(), "slack", "high", "alert", None, "T", "B")


@pytest.mark.parametrize(
    ("status", "headers", "error", "retry_after"),
    [
        (500, {}, TransientDeliveryError, None),
        (503, {"Retry-After": "5"}, TransientDeliveryError, 5.0),
        (429, {"Retry-After": "2"}, TransientDeliveryError, 2.0),
        (400, {}, PermanentDeliveryError, None),
        (404, {}, PermanentDeliveryError, None),
    ],
)
async def test_http_status_maps_to_transient_or_permanent(
    status: int, headers: dict[str, str], error: type[Exception], retry_after: float | None
) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, headers=headers, text="nope")

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        message = _message()
        with pytest.raises(error) as caught:
            await SlackChannel(client).send(message, {"webhook_url": "http://127.0.0.1/x"})
    assert seen[0].headers["Idempotency-Key"] == str(message.notification_id)
    assert f"HTTP {status}" in str(caught.value)
    if retry_after is not None:
        err: Any = caught.value
        assert err.retry_after == retry_after


async def test_missing_channel_configuration_is_permanent() -> None:
    async with httpx.AsyncClient() as client:
        with pytest.raises(PermanentDeliveryError, match="webhook_url"):
            await SlackChannel(client).send(_message(), {})
