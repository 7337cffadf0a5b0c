"""Notification delivery end to end: outbox projection, dispatcher, real local servers.

Every provider is a real server on 127.0.0.1: an aiosmtpd SMTP server (STARTTLS + AUTH) and a
threaded HTTP server standing in for Slack, Discord, a Twilio-style SMS API and an FCM-style
push API. PostgreSQL is the session's real database; the outbox projection runs in the
session container, and each test runs its own dispatcher restricted to its own tenant.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest

from domain.identity.commands import CreateTenant, RegisterUser, SetPreference
from domain.messaging.commands import SendNotification
from domain.messaging.notifications import Notification
from engine.delivery import Dispatcher, DispatcherConfig
from engine.delivery.channels import default_channels
from tests.support.polling import wait_until
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(60)


# --- a local HTTP provider ---------------------------------------------------------------------


@dataclass
class Hit:
    seq: int
    at: float
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode())

    @property
    def key(self) -> str | None:
        return self.headers.get("idempotency-key")


@dataclass
class Provider:
    """Records every request; answers like Slack/Discord/Twilio/FCM, or as scripted per key."""

    delay_s: float = 0.0
    sms_status: str = "queued"
    script: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Provider:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # headers and body go out in two writes: without this, delayed ACKs cost 40 ms
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                parts = urlsplit(self.path)
                with provider.lock:
                    hit = Hit(
                        len(provider.hits), time.monotonic(), "POST", parts.path,
                        parse_qs(parts.query), {k.lower(): v for k, v in self.headers.items()},
                        body,
                    )
                    provider.hits.append(hit)
                    scripted = provider.script.get(hit.key or "", [])
                    status, headers = scripted.pop(0) if scripted else (0, {})
                if provider.delay_s:
                    time.sleep(provider.delay_s)  # a slow provider, as scripted
                if not status:
                    status, payload = provider.answer(hit)
                else:
                    payload = b'{"error": "scripted"}'
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, hit: Hit) -> tuple[int, bytes]:
        now = datetime.now(UTC)
        if hit.path.startswith("/slack/"):
            return 200, b"ok"
        if hit.path.startswith("/discord/"):
            return 200, json.dumps({"id": f"d{hit.seq}", "timestamp": now.isoformat()}).encode()
        if "/Messages.json" in hit.path:
            return 201, json.dumps({
                "sid": f"SM{hit.seq}", "status": self.sms_status,
                "date_created": format_datetime(now), "date_updated": format_datetime(now),
            }).encode()
        if hit.path.endswith("/messages:send"):
            return 200, json.dumps({"name": f"projects/p1/messages/{hit.seq}"}).encode()
        return 404, b"{}"

    def for_key(self, key: uuid.UUID) -> list[Hit]:
        with self.lock:
            return [h for h in self.hits if h.key == str(key)]


@pytest.fixture
def provider() -> Iterator[Provider]:
    p = Provider().start()
    yield p
    p.stop()


# --- a local SMTP server with STARTTLS and AUTH --------------------------------------------------


@pytest.fixture(scope="module")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    return cert, key


@dataclass
class Inbox:
    messages: list[dict[str, Any]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append({
            "from": envelope.mail_from, "to": list(envelope.rcpt_tos),
            "email": message_from_bytes(envelope.original_content), "tls": session.ssl is not None,
        })
        return f"250 2.0.0 Ok: queued as Q{len(self.messages)}"


@pytest.fixture
def smtp(tls_cert: tuple[Path, Path]) -> Iterator[tuple[Inbox, int]]:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    inbox = Inbox()

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            b"mailer", b"s3cret"
        )
        if ok:
            inbox.logins.append(data.login.decode())
        return AuthResult(success=ok)

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(tls_cert[0]), str(tls_cert[1]))
    port = free_port()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True,
        authenticator=authenticate, auth_require_tls=True, server_hostname="127.0.0.1",
    )
    controller.start()
    yield inbox, port
    controller.stop()


# --- the platform side ------------------------------------------------------------------------


@dataclass
class Tenant:
    id: uuid.UUID
    user_id: uuid.UUID
    email: str


@pytest.fixture
def platform(container: Any) -> Any:
    return container.platform


@pytest.fixture
def new_tenant(platform: Any) -> Callable[..., Tenant]:
    def make(**config: Any) -> Tenant:
        slug = f"n-{uuid.uuid4().hex[:10]}"
        tenant = platform.create_tenant(CreateTenant(name="Notify Co", slug=slug)).tenant
        email = f"ada@{slug}.example.com"
        user = platform.register_user(RegisterUser(
            tenant_id=tenant.id, email=email, name="Ada", status="invited"
        ))
        for key, value in config.items():
            platform.set_tenant_config(tenant.id, key.replace("__", "."), value)
        return Tenant(tenant.id, user.id, email)

    return make


def webhook_config(provider: Provider) -> dict[str, Any]:
    return {
        "notifications__slack": {"webhook_url": f"{provider.url}/slack/T1/B1/xyz"},
        "notifications__discord": {"webhook_url": f"{provider.url}/discord/api/webhooks/1/tok"},
        "notifications__sms": {
            "base_url": f"{provider.url}/sms", "account_sid": "AC1", "auth_token": "tw-secret",
            "from": "+15550000000",
        },
        "notifications__push": {
            "base_url": f"{provider.url}/push", "project_id": "p1", "access_token": "fcm-token",
        },
        "notifications__rate_limit": {"per_second": 1000, "burst": 1000},
    }


def send(platform: Any, t: Tenant, channel: str, priority: str = "medium", n: int = 0) -> uuid.UUID:
    notification = platform.send_notification(SendNotification(
        tenant_id=t.id, recipient_user_id=t.user_id, type="alert",
        title=f"{priority} #{n}", message=f"body of {priority} #{n}", channel=channel,
        priority=priority,
    ))
    return notification.id


@pytest.fixture
def dispatchers(settings: Any, db: Any) -> Iterator[Callable[..., Dispatcher]]:
    from domain.platform import Platform

    started: list[Dispatcher] = []

    def make(
        tenant: Tenant, egress_policy: Any = None, also: tuple[Tenant, ...] = (), **knobs: Any
    ) -> Dispatcher:
        config = DispatcherConfig(
            only_tenants=frozenset({tenant.id, *(a.id for a in also)}), poll_interval_s=0.05,
            backoff_base_s=0.05,
            lease_s=5.0, **knobs,
        )
        env = {
            **db.system.eventsourcing_env(settings), "POSTGRES_POOL_SIZE": "2",
            "POSTGRES_MAX_OVERFLOW": "2",
        }
        app = Platform(env=env)
        # the test settings allow loopback explicitly (the provider listens there)
        policy = egress_policy or settings.egress_policy()
        d = Dispatcher(  # as api.background.build_dispatcher does
            app, db.system.conninfo, config,
            channels=lambda c: default_channels(c, policy), egress_policy=policy,
        )  # fmt: skip
        started.append(d)
        return d.start()

    yield make
    for d in started:
        d.stop()
        d.app.close()
        assert d.error is None


def settled(platform: Any, t: Tenant, ids: list[uuid.UUID]) -> Callable[[], bool]:
    def check() -> bool:
        return all(platform.get_notification(t.id, i).status != "pending" for i in ids)

    return check


def outbox_rows(db: Any, tenant_id: uuid.UUID) -> int:
    with psycopg.connect(db.system.conninfo, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM notification_outbox WHERE tenant_id = %s", (tenant_id,)
        ).fetchone()
        return int(row[0]) if row else 0


def event_names(platform: Any, notification_id: uuid.UUID) -> list[str]:
    return [type(e).__qualname__ for e in platform.events.get(notification_id)]


# --- tests -------------------------------------------------------------------------------------


def test_email_is_sent_over_smtp_with_starttls_and_auth(
    platform: Any, new_tenant: Any, dispatchers: Any, smtp: tuple[Inbox, int],
    tls_cert: tuple[Path, Path],
) -> None:
    inbox, port = smtp
    t = new_tenant(notifications__email={
        "host": "127.0.0.1", "port": port, "starttls": True, "username": "mailer",
        "password": "s3cret", "from": "alerts@platinum.test", "ca_file": str(tls_cert[0]),
    })
    nid = send(platform, t, "email", "high")
    dispatchers(t)
    wait_until(settled(platform, t, [nid]), message="email sent")
    # the server saw one authenticated message over TLS, keyed by the notification id
    assert inbox.logins == ["mailer"]
    [got] = inbox.messages
    assert got["tls"] is True
    assert got["to"] == [t.email]
    assert got["from"] == "alerts@platinum.test"
    assert got["email"]["Subject"] == "high #0"
    assert got["email"]["Message-ID"] == f"<{nid}@platinum.notifications>"
    assert got["email"]["X-Platinum-Notification-Id"] == str(nid)
    assert "body of high #0" in got["email"].get_payload(decode=True).decode()
    n = platform.get_notification(t.id, nid)
    assert n.status == "sent"
    assert n.sent_at is not None
    assert "queued as Q1" in (n.provider_id or "")


def test_webhook_sms_and_push_deliveries_carry_address_content_and_idempotency_key(
    platform: Any, new_tenant: Any, dispatchers: Any, provider: Provider, db: Any
) -> None:
    provider.sms_status = "delivered"
    t = new_tenant(**webhook_config(provider))
    for key, value in (("notifications.address.sms", "+15551234567"),
                       ("notifications.address.push", "device-token-1")):
        platform.set_preference(SetPreference(t.id, t.user_id, key, value))
    ids = {ch: send(platform, t, ch) for ch in ("slack", "discord", "sms", "push")}
    dispatchers(t)
    wait_until(settled(platform, t, list(ids.values())), message="all channels")

    [slack] = provider.for_key(ids["slack"])
    assert slack.path == "/slack/T1/B1/xyz"
    assert slack.json == {"text": "*medium #0*\nbody of medium #0"}
    [discord] = provider.for_key(ids["discord"])
    assert discord.query == {"wait": ["true"]}
    assert "body of medium #0" in discord.json["content"]
    [sms] = provider.for_key(ids["sms"])
    assert sms.path == "/sms/2010-04-01/Accounts/AC1/Messages.json"
    assert sms.form["To"] == ["+15551234567"]
    assert sms.form["From"] == ["+15550000000"]
    assert sms.headers["authorization"] == "Basic " + base64.b64encode(b"AC1:tw-secret").decode()
    assert sms.headers["i-twilio-idempotency-token"] == str(ids["sms"])
    [push] = provider.for_key(ids["push"])
    assert push.path == "/push/v1/projects/p1/messages:send"
    assert push.headers["authorization"] == "Bearer fcm-token"
    assert push.json["message"]["token"] == "device-token-1"
    assert push.json["message"]["data"]["notification_id"] == str(ids["push"])

    # webhooks post into the channel: delivered; the SMS API said "delivered"; push only sent
    state = {ch: platform.get_notification(t.id, i) for ch, i in ids.items()}
    assert {ch: n.status for ch, n in state.items()} == {
        "slack": "delivered", "discord": "delivered", "sms": "delivered", "push": "sent",
    }
    assert state["discord"].provider_id == f"d{discord.seq}"
    assert state["sms"].provider_id == f"SM{sms.seq}"
    assert state["push"].provider_id == f"projects/p1/messages/{push.seq}"
    assert outbox_rows(db, t.id) == 0


def test_provider_answering_500_then_200_delivers_the_message_once(
    platform: Any, new_tenant: Any, dispatchers: Any, provider: Provider, db: Any
) -> None:
    t = new_tenant(**webhook_config(provider))
    # built before it is saved, so the provider can be scripted for its id (= idempotency key)
    notification = Notification(
        tenant_id=t.id, recipient_user_id=t.user_id, type="alert", title="retry me",
        message="once", channel="slack", priority="high",
    )
    provider.script[str(notification.id)] = [(500, {})]
    platform.save(notification)
    dispatchers(t)
    wait_until(settled(platform, t, [notification.id]), message="delivered after retry")

    hits = provider.for_key(notification.id)
    assert len(hits) == 2  # one 500, one 200: delivered exactly once
    n = platform.get_notification(t.id, notification.id)
    assert n.status == "delivered"
    assert event_names(platform, notification.id) == [
        "Notification.Created", "Notification.DeliveryFailed", "Notification.Sent",
        "Notification.Delivered",
    ]
    assert outbox_rows(db, t.id) == 0


def test_429_retry_after_is_honoured(
    platform: Any, new_tenant: Any, dispatchers: Any, provider: Provider
) -> None:
    t = new_tenant(**webhook_config(provider))
    notification = Notification(
        tenant_id=t.id, recipient_user_id=t.user_id, type="alert", title="slow down",
        message="later", channel="discord", priority="urgent",
    )
    provider.script[str(notification.id)] = [(429, {"Retry-After": "1"})]
    platform.save(notification)
    dispatchers(t)
    wait_until(settled(platform, t, [notification.id]), message="delivered after 429")
    first, second = provider.for_key(notification.id)
    assert second.at - first.at >= 0.95


def test_webhooks_to_internal_addresses_are_refused_and_read_like_a_closed_port(
    platform: Any, new_tenant: Any, dispatchers: Any, provider: Provider
) -> None:
    from engine.steps.egress import EgressPolicy

    t = new_tenant(**webhook_config(provider))
    ids = [send(platform, t, channel, n=i) for i, channel in enumerate(("slack", "discord"))]
    dispatchers(t, egress_policy=EgressPolicy(), max_attempts=1)  # no allow list
    wait_until(settled(platform, t, ids), message="refused")
    for i in ids:
        n = platform.get_notification(t.id, i)
        assert (n.status, n.failure_reason) == (
            "failed", f"gave up after 1 attempts: {n.channel}: could not connect to the endpoint"
        )
    assert provider.hits == []  # nothing left the dispatcher
    # where loopback is allowed, a closed port reads exactly the same
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    other = new_tenant(notifications__slack={"webhook_url": f"http://127.0.0.1:{closed}/hook"})
    n_id = send(platform, other, "slack")
    dispatchers(other, max_attempts=1)
    wait_until(settled(platform, other, [n_id]), message="closed port")
    n = platform.get_notification(other.id, n_id)
    assert (n.status, n.failure_reason) == (
        "failed", "gave up after 1 attempts: slack: could not connect to the endpoint"
    )


def test_a_tenants_egress_allow_narrows_its_webhooks_and_no_other_tenants(
    platform: Any, new_tenant: Any, dispatchers: Any, provider: Provider, db: Any
) -> None:
    # the platform policy (test settings) allows loopback, where the provider listens; tenant A
    # narrows its egress to a documentation range that excludes it, tenant B does not
    a = new_tenant(**webhook_config(provider), egress__allow=["203.0.113.0/24"])
    b = new_tenant(**webhook_config(provider))
    a_ids = [send(platform, a, ch, n=i) for i, ch in enumerate(("slack", "discord"))]
    b_ids = [send(platform, b, ch, n=i) for i, ch in enumerate(("slack", "discord"))]
    dispatchers(a, also=(b,))  # one dispatcher serves both tenants
    wait_until(settled(platform, b, b_ids), message="B delivered")
    wait_until(settled(platform, a, a_ids), message="A refused")
    for i in b_ids:
        assert platform.get_notification(b.id, i).status in ("sent", "delivered")
        assert len(provider.for_key(i)) == 1
    for i in a_ids:
        n = platform.get_notification(a.id, i)
        # the uniform text of a refused connection, recorded as a permanent failure at once
        assert (n.status, n.failure_reason) == (
            "failed", f"{n.channel}: could not connect to the endpoint"
        )
        assert event_names(platform, i).count("Notification.DeliveryFailed") == 1
        assert provider.for_key(i) == []  # nothing left the dispatcher
    assert outbox_rows(db, a.id) == 0  # not retried


def test_permanent_failure_is_recorded_with_its_reason_and_not_retried(
    platform: Any, new_tenant: Any, dispatchers: Any, provider: Provider, db: Any
) -> None:
    t = new_tenant(**webhook_config(provider))
    notification = Notification(
        tenant_id=t.id, recipient_user_id=t.user_id, type="alert", title="bad",
        message="payload", channel="slack", priority="low",
    )
    provider.script[str(notification.id)] = [(404, {})]
    platform.save(notification)
    dispatchers(t)
    wait_until(settled(platform, t, [notification.id]), message="failed")
    n = platform.get_notification(t.id, notification.id)
    assert n.status == "failed"
    assert "HTTP 404" in (n.failure_reason or "")
    assert len(provider.for_key(notification.id)) == 1
    assert outbox_rows(db, t.id) == 0


def test_muted_channel_and_unconfigured_channel_fail_without_sending(
    platform: Any, new_tenant: Any, dispatchers: Any, provider: Provider
) -> None:
    config = webhook_config(provider)
    del config["notifications__push"]
    t = new_tenant(**config)
    platform.set_preference(SetPreference(t.id, t.user_id, "notifications.mute.slack", "true"))
    muted = send(platform, t, "slack")
    unconfigured = send(platform, t, "push")
    dispatchers(t)
    wait_until(settled(platform, t, [muted, unconfigured]), message="both failed")
    assert provider.hits == []
    m = platform.get_notification(t.id, muted)
    assert (m.status, m.failure_reason) == ("failed", "muted by the recipient "
                                            "(notifications.mute.slack)")
    u = platform.get_notification(t.id, unconfigured)
    assert u.status == "failed"
    assert "not configured" in (u.failure_reason or "")


def test_a_notification_queued_for_a_user_erased_since_is_failed_without_sending(
    platform: Any, new_tenant: Any, dispatchers: Any, provider: Provider
) -> None:
    t = new_tenant(**webhook_config(provider))
    queued = send(platform, t, "slack")
    platform.erase_user(t.id, t.user_id)
    dispatchers(t)
    wait_until(settled(platform, t, [queued]), message="failed")
    assert provider.hits == []
    n = platform.get_notification(t.id, queued)
    assert (n.status, n.failure_reason) == ("failed", "the recipient was erased")


def test_a_notification_to_no_known_user_is_failed_not_retried(
    platform: Any, new_tenant: Any, dispatchers: Any, provider: Provider, db: Any
) -> None:
    t = new_tenant(**webhook_config(provider))
    notification = Notification(
        tenant_id=t.id, recipient_user_id=uuid.uuid4(), type="alert", title="to nobody",
        message="payload", channel="slack", priority="low",
    )
    platform.save(notification)
    dispatchers(t)
    wait_until(settled(platform, t, [notification.id]), message="failed")
    n = platform.get_notification(t.id, notification.id)
    assert (n.status, n.failure_reason) == ("failed", "the recipient does not exist")
    assert provider.hits == []
    assert outbox_rows(db, t.id) == 0


def test_tenant_rate_limit_spaces_out_outgoing_messages(
    platform: Any, new_tenant: Any, dispatchers: Any, provider: Provider
) -> None:
    config = webhook_config(provider)
    config["notifications__rate_limit"] = {"per_second": 10, "burst": 2}
    t = new_tenant(**config)
    ids = [send(platform, t, "slack", n=i) for i in range(8)]
    # two dispatchers share the tenant's bucket (in PostgreSQL): not twice the rate
    dispatchers(t, concurrency=1)
    dispatchers(t, concurrency=1)
    wait_until(settled(platform, t, ids), message="rate-limited drain")
    times = sorted(h.at for h in provider.hits)
    assert len(times) == 8
    # 2 at once (the burst), then 6 more at 10/s: at least ~0.6 s in all (two buckets of
    # their own would have sent 4 at once, then 4 at 20/s: ~0.2 s)
    assert times[-1] - times[0] >= 0.5
    assert all(platform.get_notification(t.id, i).status == "delivered" for i in ids)


def test_token_buckets_are_shared_and_never_spend_a_token_twice(db: Any) -> None:
    import asyncio

    from engine.delivery.outbox import OutboxStore

    async def scenario() -> tuple[list[float], list[float], float]:
        stores = [await OutboxStore.connect(db.system.conninfo, f"w{i}") for i in range(4)]
        try:
            tenant = uuid.uuid4()
            paced = [await stores[0].take_token(tenant, 10, 2) for _ in range(3)]
            other = await stores[1].take_token(uuid.uuid4(), 10, 2)
            # 4 connections, 40 concurrent takes of a bucket of 5 that barely refills
            hoarded = uuid.uuid4()
            waits = await asyncio.gather(*(
                stores[i % 4].take_token(hoarded, 0.001, 5) for i in range(40)))  # fmt: skip
            return paced, list(waits), other
        finally:
            for s in stores:
                await s.close()

    paced, waits, other = asyncio.run(scenario())
    assert paced[:2] == [0.0, 0.0]  # the burst
    assert 0.0 < paced[2] <= 0.1  # then one token per 1/10 s
    assert other == 0.0  # another tenant has its own bucket
    assert sum(w == 0.0 for w in waits) == 5
    assert all(w > 100 for w in waits if w)


def test_thousand_notifications_of_mixed_priority_drain_in_priority_order(
    platform: Any, new_tenant: Any, dispatchers: Any, provider: Provider, db: Any
) -> None:
    t = new_tenant(**webhook_config(provider))
    priorities = ["low", "medium", "high", "urgent"]
    batch = [
        Notification(
            tenant_id=t.id, recipient_user_id=t.user_id, type="bulk",
            title=priorities[(i * 7) % 4], message=str(i),
            channel="slack" if i % 2 else "discord", priority=priorities[(i * 7) % 4],
        )
        for i in range(1000)
    ]
    for i in range(0, 1000, 100):
        platform.save(*batch[i : i + 100])
    # everything queued before the dispatcher starts, so order is the only variable
    wait_until(lambda: outbox_rows(db, t.id) == 1000, message="1000 outbox rows")
    dispatchers(t, concurrency=1, batch_size=100)
    wait_until(lambda: len(provider.hits) >= 1000, timeout=45, message="1000 deliveries")

    rank = {"urgent": 0, "high": 1, "medium": 2, "low": 3}
    order = sorted(provider.hits, key=lambda h: h.seq)
    titles = [
        (h.json["text"].split("*")[1] if "slack" in h.path else h.json["content"].split("**")[1])
        for h in order
    ]
    ranks = [rank[x] for x in titles]
    assert ranks == sorted(ranks)
    assert len({h.key for h in order}) == 1000
    # within one priority, the order requested
    position = {str(n.id): i for i, n in enumerate(batch)}
    for p in priorities:
        seen = [position[h.key or ""] for h, x in zip(order, titles, strict=True) if x == p]
        assert seen == sorted(seen)
    wait_until(lambda: outbox_rows(db, t.id) == 0, message="outbox drained")


def test_killed_dispatcher_loses_its_leases_and_another_delivers_everything(
    platform: Any, new_tenant: Any, dispatchers: Any, provider: Provider, settings: Any,
    db: Any, tmp_path: Path,
) -> None:
    provider.delay_s = 0.03
    t = new_tenant(**webhook_config(provider))
    ids = [send(platform, t, "slack", n=i) for i in range(40)]
    wait_until(lambda: outbox_rows(db, t.id) == 40, message="40 outbox rows")
    # a dispatcher process, one message at a time, short leases
    env = {
        **os.environ, "DATABASE_URL": settings.database_url,
        "PLATINUM_CIPHER_KEY": settings.cipher_key, "PLATINUM_DATA_DIR": str(tmp_path),
        "PLATINUM_LOG_LEVEL": "WARNING", "PLATINUM_POOL_SIZE": "2",
        "PLATINUM_EGRESS_ALLOW": settings.egress_allow,  # the provider listens on loopback
        "PLATINUM_POOL_MAX_OVERFLOW": "2",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "dispatch", "--concurrency", "1", "--batch-size", "10",
         "--lease-seconds", "2", "--tenant", str(t.id)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        wait_until(lambda: len(provider.hits) >= 12 or proc.poll() is not None, timeout=30,
                   message="the dispatcher process to deliver some")
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        proc.send_signal(signal.SIGKILL)  # mid-batch: leases held, one message in flight
        proc.wait(5)
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    delivered_before = len(provider.hits)
    assert delivered_before < 40

    # another dispatcher takes over once the leases run out
    dispatchers(t, concurrency=1)
    wait_until(settled(platform, t, ids), timeout=30, message="all delivered after the kill")
    keys = [h.key for h in provider.hits]
    assert set(keys) == {str(i) for i in ids}  # every one at least once
    duplicates = {k for k in keys if keys.count(k) > 1}
    assert len(duplicates) <= 1  # only the one in flight when the process died
    assert all(platform.get_notification(t.id, i).status == "delivered" for i in ids)
    assert outbox_rows(db, t.id) == 0


def test_a_nonsense_rate_limit_defers_instead_of_failing(db: Any) -> None:
    import asyncio
    import math

    from engine.delivery.outbox import OutboxStore

    async def scenario() -> list[float]:
        store = await OutboxStore.connect(db.system.conninfo, "w")
        try:
            waits = []
            for rate, burst in ((-5, 2), (math.nan, 2), (0, 1), (10, -3)):
                tenant = uuid.uuid4()
                waits += [await store.take_token(tenant, rate, burst) for _ in range(3)]
            return waits
        finally:
            await store.close()

    waits = asyncio.run(scenario())
    # the burst goes (the bucket starts full); with no usable rate the next waits an hour
    assert waits[:9] == [0.0, 0.0, 3600.0, 0.0, 0.0, 3600.0, 0.0, 3600.0, 3600.0]
    # a burst below 1 counts as 1: one goes, then one per 1/10 s
    assert waits[9] == 0.0
    assert 0.0 < waits[10] <= 0.1


def test_the_dispatcher_reports_its_liveness_and_a_dead_thread_is_started_again(
    new_tenant: Any, dispatchers: Any, provider: Provider
) -> None:
    d = dispatchers(new_tenant(**webhook_config(provider)))
    wait_until(lambda: d.liveness()["loops"]["dispatch"]["last_beat_s"] < 1.0, message="a beat")
    live = d.liveness()
    assert live["ok"], live
    assert live["dispatcher"] == d.config.worker_id
    # the thread dies anyway (not through stop()): the probe starts it again
    d._stop.set()
    assert d._thread is not None
    d._thread.join(timeout=15)
    dead = d._thread
    assert not d.running
    d._stop.clear()
    d.liveness()  # this probe sees it dead, and starts it again
    assert d._thread is not dead
    wait_until(lambda: d.running and d.liveness()["ok"], message="the restarted loop")
