"""The dispatcher's loop and outcome recording on the in-memory store, with a fake outbox."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest
from eventsourcing import persistence as es

from domain.identity.commands import CreateTenant, SetPreference
from domain.messaging.commands import SendNotification
from domain.platform import Platform
from engine.delivery import Dispatcher, DispatcherConfig
from engine.delivery.channels import (
    DeliveryResult,
    Message,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from engine.delivery.outbox import OutboxRow, OutboxStore
from engine.delivery.recording import DeliveryRecords
from tests.support.doubles import PASSWORD
from tests.support.polling import wait_until

AT = datetime(2030, 1, 1, tzinfo=UTC)


class FakeOutbox:
    """The outbox's calls, recorded; ``rows`` are handed out by the first claim."""

    def __init__(self, rows: list[OutboxRow], wait: float = 0.0) -> None:
        self.rows = rows
        self.wait = wait
        self.calls: list[tuple[Any, ...]] = []
        self.dispatcher: Dispatcher | None = None

    async def claim(self, limit: int, lease_s: float, **kw: Any) -> list[OutboxRow]:
        rows, self.rows = self.rows[:limit], self.rows[limit:]
        self.calls.append(("claim", kw["skip_tenants"]))
        return rows

    async def finish(self, row_id: int) -> None:
        self.calls.append(("finish", row_id))

    async def retry(self, row_id: int, delay_s: float, error: str) -> None:
        self.calls.append(("retry", row_id, error))

    async def defer(self, row_ids: list[int], delay_s: float) -> None:
        self.calls.append(("defer", list(row_ids), delay_s))

    async def extend(self, ids: list[int], lease_s: float) -> None:
        self.calls.append(("extend", list(ids)))

    async def take_token(self, tenant_id: UUID, rate: float, burst: float) -> float:
        return self.wait

    async def wait_for_rows(self, timeout_s: float) -> None:
        assert self.dispatcher is not None
        self.dispatcher._stop.set()  # idle: the test is over

    async def close(self) -> None:
        self.calls.append(("close",))


class Recording:
    """A channel that remembers what it sent, or raises ``error``."""

    name = "slack"

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error
        self.sent: list[Message] = []

    async def send(self, message: Message, config: Mapping[str, Any]) -> DeliveryResult:
        if self.error is not None:
            raise self.error
        self.sent.append(message)
        return DeliveryResult(sent_at=AT, provider_id="p1", delivered_at=AT)


@pytest.fixture
def acme(platform: Platform) -> Any:
    made = platform.create_tenant(
        CreateTenant(name="Acme", slug="acme", admin_email="boss@acme.io",
                     admin_password=PASSWORD)
    )  # fmt: skip
    platform.set_tenant_config(made.tenant.id, "notifications.slack", {"webhook_url": "https://x"})
    return made


def queue(platform: Platform, acme: Any, channel: str = "slack") -> OutboxRow:
    n = platform.send_notification(
        SendNotification(tenant_id=acme.tenant.id, recipient_user_id=acme.admin.id,
                         type="workflow", title="Hi", message="Hello", channel=channel)
    )  # fmt: skip
    return OutboxRow(id=int(uuid.uuid4().int % 10_000), tenant_id=acme.tenant.id,
                     notification_id=n.id, channel=channel, priority=2, attempts=0,
                     event_position=1)  # fmt: skip


def dispatch(
    platform: Platform, outbox: FakeOutbox, channel: Recording, **config: Any
) -> Dispatcher:
    """Run the loop until the outbox is idle."""

    class Fake(Dispatcher):
        async def _connect(self) -> OutboxStore:
            return outbox  # type: ignore[return-value]

    d = Fake(platform, "", DispatcherConfig(worker_id="w", **config),
             channels=lambda client: {"slack": channel, "email": channel})  # fmt: skip
    outbox.dispatcher = d
    asyncio.run(d.run())
    return d


def status(platform: Platform, row: OutboxRow) -> Any:
    return platform.get_notification(row.tenant_id, row.notification_id)


def test_a_sent_message_is_recorded_sent_and_delivered_and_its_row_finished(
    platform: Platform, acme: Any
) -> None:
    row = queue(platform, acme)
    outbox, channel = FakeOutbox([row]), Recording()
    d = dispatch(platform, outbox, channel)
    assert [m.notification_id for m in channel.sent] == [row.notification_id]
    n = status(platform, row)
    assert (n.status, n.provider_id) == ("delivered", "p1")
    assert ("finish", row.id) in outbox.calls
    assert d.stats["sent"] == 1


def test_many_rows_are_sent_concurrently_and_each_once(platform: Platform, acme: Any) -> None:
    rows = [queue(platform, acme) for _ in range(3)]
    channel = Recording()
    dispatch(platform, FakeOutbox(rows), channel, concurrency=2)
    assert sorted(str(m.notification_id) for m in channel.sent) == sorted(
        str(r.notification_id) for r in rows
    )


def test_a_transient_error_counts_an_attempt_and_retries_later(
    platform: Platform, acme: Any
) -> None:
    row = queue(platform, acme)
    outbox = FakeOutbox([row])
    d = dispatch(platform, outbox, Recording(TransientDeliveryError("busy", retry_after=3)))
    assert ("retry", row.id, "busy") in outbox.calls
    assert status(platform, row).status == "pending"
    assert d.stats["retried"] == 1


def test_the_last_attempt_fails_the_notification_for_good(platform: Platform, acme: Any) -> None:
    row = queue(platform, acme)
    outbox = FakeOutbox([row])
    dispatch(platform, outbox, Recording(TimeoutError()), max_attempts=1)
    n = status(platform, row)
    assert n.status == "failed"
    assert "gave up after 1 attempts" in n.failure_reason


@pytest.mark.parametrize(
    ("error", "reason"),
    [(PermanentDeliveryError("bad address"), "bad address"),
     (RuntimeError("boom"), "slack: RuntimeError: boom")],
)  # fmt: skip
def test_adapter_errors_become_failures(
    platform: Platform, acme: Any, error: BaseException, reason: str
) -> None:
    row = queue(platform, acme)
    dispatch(platform, FakeOutbox([row]), Recording(error), max_attempts=1)
    assert reason in status(platform, row).failure_reason


def test_a_muted_channel_fails_permanently_without_a_send(platform: Platform, acme: Any) -> None:
    row = queue(platform, acme)
    platform.set_preference(
        SetPreference(
            tenant_id=acme.tenant.id,
            user_id=acme.admin.id,
            key="notifications.mute.slack",
            value="true",
        )
    )
    channel = Recording()
    dispatch(platform, FakeOutbox([row]), channel)
    assert channel.sent == []
    assert "muted by the recipient" in status(platform, row).failure_reason


def test_an_unconfigured_channel_fails_permanently(platform: Platform, acme: Any) -> None:
    row = queue(platform, acme, channel="email")
    dispatch(platform, FakeOutbox([row]), Recording())
    assert "is not configured" in status(platform, row).failure_reason


def test_a_channel_without_an_adapter_fails(platform: Platform, acme: Any) -> None:
    platform.set_tenant_config(acme.tenant.id, "notifications.discord", {"webhook_url": "x"})
    row = queue(platform, acme, channel="discord")
    dispatch(platform, FakeOutbox([row]), Recording())
    assert "no adapter for channel 'discord'" in status(platform, row).failure_reason


def test_a_malformed_tenant_egress_list_fails_the_message(platform: Platform, acme: Any) -> None:
    platform.set_tenant_config(acme.tenant.id, "egress.allow", ["not a host!"])
    row = queue(platform, acme)
    dispatch(platform, FakeOutbox([row]), Recording())
    assert "tenant config egress.allow" in status(platform, row).failure_reason


def test_a_tenant_egress_list_sends_through_channels_of_its_own(
    platform: Platform, acme: Any
) -> None:
    platform.set_tenant_config(acme.tenant.id, "egress.allow", ["hooks.example.com"])
    row = queue(platform, acme)
    channel = Recording()
    dispatch(platform, FakeOutbox([row]), channel)
    assert len(channel.sent) == 1


def test_a_notification_with_an_outcome_is_skipped_and_its_row_finished(
    platform: Platform, acme: Any
) -> None:
    row = queue(platform, acme)
    gone = OutboxRow(id=99, tenant_id=acme.tenant.id, notification_id=uuid.uuid4(),
                     channel="slack", priority=2, attempts=0, event_position=2)  # fmt: skip
    n = status(platform, row)
    n.mark_failed(reason="earlier", permanent=True)
    platform.save(n)
    outbox, channel = FakeOutbox([row, gone]), Recording()
    d = dispatch(platform, outbox, channel)
    assert channel.sent == []
    assert ("finish", row.id) in outbox.calls
    assert ("finish", 99) in outbox.calls
    assert d.stats["skipped"] == 2


def test_a_throttled_tenant_is_deferred_and_skipped_by_the_next_claim(
    platform: Platform, acme: Any
) -> None:
    rows = [queue(platform, acme), queue(platform, acme)]
    outbox = FakeOutbox(rows, wait=5.0)
    d = dispatch(platform, outbox, Recording(), concurrency=1)
    assert [c[0] for c in outbox.calls if c[0] == "defer"] == ["defer", "defer"]
    assert d.stats["deferred"] == 2


def test_a_database_error_before_the_send_gives_the_row_back_on_reconnecting(
    platform: Platform, acme: Any
) -> None:
    row = queue(platform, acme)

    class Broken(FakeOutbox):
        async def take_token(self, tenant_id: UUID, rate: float, burst: float) -> float:
            raise psycopg.OperationalError("the database went away")

    outbox = Broken([row])
    d = dispatch(platform, outbox, Recording())
    assert row.id in d._untried  # given back (defer 0) as soon as a connection is made again


def test_the_event_stores_outage_error_gives_the_row_back_too(
    platform: Platform, acme: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading the notification's tenant from the event store during an outage raises the
    library's OperationalError, not psycopg's: the row was kept for its 30 s lease, and the
    outage test (delivery within 15 s of the database's return) failed about one run in five."""
    row = queue(platform, acme)

    def away(self: DeliveryRecords, row: OutboxRow) -> None:
        raise es.OperationalError("couldn't get a connection after 1.00 sec")

    monkeypatch.setattr(DeliveryRecords, "prepare", away)
    d = dispatch(platform, FakeOutbox([row]), Recording())
    assert row.id in d._untried


def test_a_stopping_dispatcher_gives_claimed_rows_back_untried(
    platform: Platform, acme: Any
) -> None:
    row = queue(platform, acme)
    outbox = FakeOutbox([row])
    d = Dispatcher(platform, "", DispatcherConfig(worker_id="w"))
    d._stop.set()
    asyncio.run(d.run_batch(outbox, {"slack": Recording()}))  # type: ignore[arg-type]
    assert ("defer", [row.id], 0) in outbox.calls


def test_liveness_reports_a_loop_that_never_started_as_not_ok(platform: Platform) -> None:
    d = Dispatcher(platform, "", DispatcherConfig(worker_id="w"))
    report = d.liveness()
    assert report["dispatcher"] == "w"
    assert report["ok"] is False
    assert report["loops"]["dispatch"]["alive"] is False


def test_a_lost_connection_is_made_again(platform: Platform, acme: Any) -> None:
    row = queue(platform, acme)
    outbox, channel = FakeOutbox([row]), Recording()
    attempts: list[int] = []

    class Flaky(Dispatcher):
        async def _connect(self) -> OutboxStore:
            attempts.append(1)
            if len(attempts) == 1:
                raise psycopg.OperationalError("not yet")
            return outbox  # type: ignore[return-value]

    d = Flaky(platform, "", DispatcherConfig(worker_id="w"),
              channels=lambda client: {"slack": channel})  # fmt: skip
    outbox.dispatcher = d
    asyncio.run(d.run())
    assert len(attempts) == 2
    assert d.error is None  # the loop got its connection back
    assert len(channel.sent) == 1


def test_start_and_stop_run_the_loop_on_a_thread(platform: Platform) -> None:
    outbox = FakeOutbox([])

    class Fake(Dispatcher):
        async def _connect(self) -> OutboxStore:
            return outbox  # type: ignore[return-value]

    d = Fake(platform, "", DispatcherConfig(worker_id="w"), channels=lambda c: {})
    outbox.dispatcher = d  # its first idle wait stops the loop
    d.start()
    wait_until(lambda: not d.running, 10, interval=0.01, message="the loop to stop itself")
    d.stop(timeout=10)
    assert not d.running
    assert ("close",) in outbox.calls


def test_default_channels_guard_the_client_and_cover_every_channel() -> None:
    from engine.delivery.channels import default_channels

    async def build() -> set[str]:
        async with httpx.AsyncClient() as client:
            return set(default_channels(client))

    assert asyncio.run(build()) == {"email", "slack", "discord", "sms", "push"}
