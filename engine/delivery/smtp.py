"""Email over SMTP (aiosmtplib): implicit TLS or STARTTLS, optional AUTH."""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

import aiosmtplib

from domain.kernel.clock import utc_now
from engine.delivery.channels import (
    DeliveryResult,
    Message,
    PermanentDeliveryError,
    TransientDeliveryError,
    require,
)


def build_email(message: Message, sender: str) -> EmailMessage:
    """The MIME message; its Message-ID is derived from the notification id (idempotency)."""
    email = EmailMessage()
    email["From"] = sender
    email["To"] = message.to or ""
    email["Subject"] = message.title
    email["Date"] = format_datetime(utc_now())
    email["Message-ID"] = f"<{message.notification_id}@platinum.notifications>"
    email["X-Platinum-Notification-Id"] = str(message.notification_id)
    email["X-Priority"] = {"urgent": "1", "high": "2", "medium": "3", "low": "5"}.get(
        message.priority, "3"
    )
    email.set_content(message.body)
    return email


def _tls_context(config: Mapping[str, Any]) -> ssl.SSLContext | None:
    ca_file = config.get("ca_file")
    if ca_file:
        return ssl.create_default_context(cafile=str(ca_file))
    return None


class EmailChannel:
    """Config ``{host, port, starttls, tls, username, password, from, ca_file, validate_certs}``.

    ``starttls`` upgrades a plain connection (port 587); ``tls`` is implicit TLS (port 465).
    SMTP 4xx replies and connection problems are transient, 5xx replies permanent.
    """

    name = "email"

    def __init__(self, timeout_s: float = 30.0) -> None:
        self.timeout_s = timeout_s

    async def send(self, message: Message, config: Mapping[str, Any]) -> DeliveryResult:
        host, sender = require(config, "host", "from")
        if not message.to:
            raise PermanentDeliveryError("email: recipient has no address")
        use_tls = bool(config.get("tls", False))
        port = int(config.get("port") or (465 if use_tls else 587))
        starttls = config.get("starttls")
        try:
            _refused, answer = await aiosmtplib.send(
                build_email(message, str(sender)),
                hostname=str(host),
                port=port,
                use_tls=use_tls,
                start_tls=None if starttls is None else bool(starttls),
                username=config.get("username") or None,
                password=config.get("password") or None,
                validate_certs=bool(config.get("validate_certs", True)),
                tls_context=_tls_context(config),
                timeout=float(config.get("timeout", self.timeout_s)),
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            reason = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
            if codes and all(400 <= c < 500 for c in codes):
                raise TransientDeliveryError(f"email: refused {reason}") from exc
            raise PermanentDeliveryError(f"email: refused {reason}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            reason = f"email: {exc.code} {exc.message}"
            if 400 <= exc.code < 500:
                raise TransientDeliveryError(reason) from exc
            raise PermanentDeliveryError(reason) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise TransientDeliveryError(f"email: {type(exc).__name__}: {exc}") from exc
        # SMTP says "accepted for delivery", not "in the mailbox": sent, not delivered
        return DeliveryResult(sent_at=utc_now(), provider_id=answer.strip()[:200] or None)
