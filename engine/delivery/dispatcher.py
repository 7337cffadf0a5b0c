"""The dispatcher's loop: claim outbox rows, send each through its channel, pace and retry.

Delivery is at least once. A row is leased, not removed, while it is worked on; a dispatcher
that dies loses its leases and another one picks the rows up. The notification id is sent to
providers as the idempotency key, and the aggregate's status is checked before every send, so
the only messages that can go out twice are those in flight when a dispatcher died. The
outcomes are recorded as domain events by `engine.delivery.recording`; the SQL on the outbox is
`engine.delivery.outbox`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from uuid import UUID

import httpx
import psycopg
from eventsourcing import persistence as es
from eventsourcing.persistence import PersistenceError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_delay,
    wait_fixed,
)

from domain.kernel.retrying import failure, stop_when_set, until_stopped, until_stopped_async
from engine.delivery.channels import (
    Channel,
    PermanentDeliveryError,
    TransientDeliveryError,
    default_channels,
)
from engine.delivery.config import DispatcherConfig
from engine.delivery.outbox import OutboxRow, OutboxStore
from engine.delivery.recording import DeliveryRecords
from engine.steps import egress, egress_clients

if TYPE_CHECKING:
    from domain.platform import Platform

log = logging.getLogger(__name__)

RECONNECT_MIN_S = 0.1
RECONNECT_MAX_S = 1.0
"""Longest pause between two connection attempts: delivery resumes within it of the
database's return."""

DATABASE_AWAY = (psycopg.OperationalError, psycopg.InterfaceError, es.OperationalError,
                 es.InterfaceError)  # fmt: skip
"""The database went away: psycopg's errors, and the event store's (which wraps them: reading
a notification's tenant during an outage raises those)."""

ChannelFactory = Callable[[httpx.AsyncClient], Mapping[str, Channel]]


class Dispatcher:
    """Delivers queued notifications until stopped; ``start()`` runs it on a thread of its own.

    ``app`` is a ``Platform`` on the system role; ``conninfo`` (system role) reaches the outbox.
    """

    def __init__(
        self,
        app: Platform,
        conninfo: str,
        config: DispatcherConfig | None = None,
        *,
        channels: ChannelFactory | None = None,
        egress_policy: egress.EgressPolicy | None = None,
    ) -> None:
        self.app = app
        self.conninfo = conninfo
        self.config = config or DispatcherConfig()
        self.channel_factory: ChannelFactory = channels or default_channels
        self.egress_policy = egress_policy
        """The platform's policy, narrowed per tenant (None: the process default)."""
        self._narrowed: dict[egress.AllowList, Mapping[str, Channel]] = {}
        self._narrowed_clients: list[httpx.AsyncClient] = []
        send_s = self.config.send_timeout_s
        self._timeout = httpx.Timeout(send_s, connect=min(10.0, send_s))
        self.stats = {"sent": 0, "failed": 0, "retried": 0, "deferred": 0, "skipped": 0}
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_beat = time.monotonic()  # the loop last went round (liveness, /readyz)
        self._held: set[int] = set()
        # rows whose attempt the database's going away cut short before anything was sent:
        # given back as soon as the connection is made again, not when their lease runs out
        self._sending: set[int] = set()
        self._untried: set[int] = set()
        self._throttled: dict[UUID, float] = {}
        self._store: OutboxStore | None = None  # the connection, while the loop has one
        self._beating: asyncio.Task[None] | None = None  # its lease heartbeat
        self.records = DeliveryRecords(app, self.config)

    # -- process control -------------------------------------------------------------------

    def start(self) -> Dispatcher:
        """Run the dispatch loop on a daemon thread (its own asyncio event loop)."""
        self._stop.clear()
        self.last_beat = time.monotonic()
        self._thread = threading.Thread(
            target=self._thread_main, name=f"dispatcher-{self.config.worker_id}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 15.0) -> None:
        """Finish the messages in hand, give back untouched leases, and return."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def liveness(self) -> dict[str, Any]:
        """Seconds since the dispatch loop last went round (connected or reconnecting), and
        whether its thread is alive; a thread that died anyway is started again here.

        The limit allows one batch's sends (each bounded by ``send_timeout_s``) and an idle
        wait; a loop past it is stuck and makes the process unready."""
        if self._thread is not None and not self._thread.is_alive() and not self._stop.is_set():
            log.error("dispatcher %s: thread died; starting it again", self.config.worker_id)
            self.start()
        age = time.monotonic() - self.last_beat
        alive = self.running
        limit = max(60.0, 4 * self.config.poll_interval_s + 2 * self.config.send_timeout_s)
        ok = alive and age <= limit
        return {
            "dispatcher": self.config.worker_id,
            "ok": ok,
            "loops": {"dispatch": {"last_beat_s": round(age, 3), "alive": alive, "ok": ok}},
        }

    def _thread_main(self) -> None:
        # supervised: an error that escapes the loop restarts it (after a pause), never ends it
        restarts = until_stopped(self._stop, first_s=RECONNECT_MAX_S, max_s=RECONNECT_MAX_S,
                                 on_retry=self._restarting)  # fmt: skip
        try:
            restarts(lambda: asyncio.run(self.run()))
        except BaseException as exc:  # KeyboardInterrupt, SystemExit: the process is going away
            self.error = exc
            log.exception("dispatcher %s stopped", self.config.worker_id)

    def _restarting(self, retry_state: RetryCallState) -> None:
        self.error = failure(retry_state)
        log.error("dispatcher %s stopped on error; restarting", self.config.worker_id,
                  exc_info=self.error)  # fmt: skip

    async def run(self) -> None:
        """The loop: claim a batch, deliver it, repeat; idle until NOTIFY or the poll interval.

        A lost database connection (a restart, an outage of any length) is never fatal: the
        connection is dropped and made again, at most ``RECONNECT_MAX_S`` apart, so delivery
        resumes within that of the database coming back."""
        rounds = until_stopped_async(self._stop, first_s=RECONNECT_MIN_S, max_s=RECONNECT_MAX_S,
                                     on_retry=self._reconnecting)  # fmt: skip
        async with httpx.AsyncClient(timeout=self._timeout, follow_redirects=False) as client:
            channels = self.channel_factory(client)
            try:
                while not self._stop.is_set():
                    await rounds(self._round, channels)  # a new retry state after each success
            finally:
                await self._disconnect(give_back=True)
                narrowed, self._narrowed_clients, self._narrowed = self._narrowed_clients, [], {}
                for c in narrowed:
                    with contextlib.suppress(Exception):
                        await c.aclose()

    async def _round(self, channels: Mapping[str, Channel]) -> None:
        """Connect if need be, then deliver one batch or wait for rows."""
        self.last_beat = time.monotonic()
        if self._stop.is_set():
            return
        if self._store is None:
            self._store = store = await self._connect()
            if self._untried:
                await store.defer(list(self._untried), 0)
                self._untried.clear()
            self._beating = asyncio.create_task(self._heartbeat(store))
            if self.error is not None:
                log.info("dispatcher %s: database connection back", self.config.worker_id)
            self.error = None
        if not await self.run_batch(self._store, channels):
            await self._store.wait_for_rows(self.config.poll_interval_s)

    async def _reconnecting(self, retry_state: RetryCallState) -> None:
        self.error = exc = failure(retry_state)
        delay = retry_state.upcoming_sleep
        log.warning("dispatcher %s: %s: %s; reconnecting in %.1fs",
                    self.config.worker_id, type(exc).__name__, exc, delay)  # fmt: skip
        await self._disconnect(give_back=False)

    async def _disconnect(self, *, give_back: bool) -> None:
        """Stop the heartbeat and close the connection (first giving back the rows held)."""
        if self._beating is not None:
            self._beating.cancel()
            self._beating = None
        store, self._store = self._store, None
        if store is not None:
            if give_back and self._held:
                with contextlib.suppress(Exception):
                    await store.defer(list(self._held), 0)
            with contextlib.suppress(Exception):
                await store.close()

    async def _connect(self) -> OutboxStore:
        store = await OutboxStore.connect(self.conninfo, self.config.worker_id)
        try:
            await store.listen()
        except Exception:  # the database went away again: start over
            with contextlib.suppress(Exception):
                await store.close()
            raise
        return store

    async def _heartbeat(self, store: OutboxStore) -> None:
        cfg = self.config
        while True:
            await asyncio.sleep(cfg.lease_s / 3)
            if self._held:
                try:
                    await store.extend(list(self._held), cfg.lease_s)
                except Exception:
                    log.warning("lease heartbeat failed", exc_info=True)

    # -- one batch -------------------------------------------------------------------------

    async def run_batch(self, store: OutboxStore, channels: Mapping[str, Channel]) -> int:
        """Claim and deliver one batch, most urgent first; returns how many rows it claimed."""
        cfg = self.config
        now = time.monotonic()
        self._throttled = {t: until for t, until in self._throttled.items() if until > now}
        rows = await store.claim(
            cfg.batch_size,
            cfg.lease_s,
            skip_tenants=list(self._throttled),
            only_tenants=cfg.only_tenants,
        )
        if not rows:
            return 0
        self._held.update(r.id for r in rows)
        if cfg.concurrency <= 1:
            for row in rows:  # strictly in priority order
                await self._guarded(store, channels, row)
        else:
            slots = asyncio.Semaphore(cfg.concurrency)

            async def one(row: OutboxRow) -> None:
                async with slots:
                    await self._guarded(store, channels, row)

            await asyncio.gather(*(one(r) for r in rows))
        return len(rows)

    async def _guarded(
        self, store: OutboxStore, channels: Mapping[str, Channel], row: OutboxRow
    ) -> None:
        try:
            if self._stop.is_set():
                await store.defer([row.id], 0)
            else:
                await self._process(store, channels, row)
        except Exception as exc:
            # the lease runs out and another attempt follows: at least once, never lost; when
            # the database went away before anything was sent, the row is given back on
            # reconnecting (nothing can have gone out, so no duplicate)
            log.exception("notification %s: dispatch error", row.notification_id)
            if isinstance(exc, DATABASE_AWAY) and row.id not in self._sending:
                self._untried.add(row.id)
        finally:
            self._held.discard(row.id)
            self._sending.discard(row.id)

    async def _process(
        self, store: OutboxStore, channels: Mapping[str, Channel], row: OutboxRow
    ) -> None:
        until = self._throttled.get(row.tenant_id)
        if until is not None and until > time.monotonic():
            await self._defer(store, row, until - time.monotonic())
            return
        try:
            prepared = await asyncio.to_thread(self.records.prepare, row)
        except PermanentDeliveryError as exc:
            await self._fail(store, row, exc.reason)
            return
        if prepared is None:  # the notification already has its outcome
            self.stats["skipped"] += 1
            await store.finish(row.id)
            return
        wait = await store.take_token(row.tenant_id, prepared.rate, prepared.burst)
        if wait > 0:
            self._throttled[row.tenant_id] = time.monotonic() + wait
            await self._defer(store, row, wait)
            return
        if prepared.egress_only is not None:
            channels = self._narrowed_channels(prepared.egress_only)
        channel = channels.get(row.channel)
        if channel is None:
            await self._fail(store, row, f"no adapter for channel {row.channel!r}")
            return
        self._sending.add(row.id)  # from here on the message may have gone out
        try:
            result = await asyncio.wait_for(
                channel.send(prepared.message, prepared.config), self.config.send_timeout_s
            )
        except TransientDeliveryError as exc:
            await self._transient(store, row, exc.reason, exc.retry_after)
        except PermanentDeliveryError as exc:
            await self._fail(store, row, exc.reason)
        except TimeoutError:
            await self._transient(
                store, row, f"{row.channel}: no answer within {self.config.send_timeout_s}s", None
            )
        except Exception as exc:
            log.exception("notification %s: adapter error", row.notification_id)
            await self._transient(store, row, f"{row.channel}: {type(exc).__name__}: {exc}", None)
        else:
            # sent: record it whatever the database does meanwhile (an unrecorded send would
            # go out again when the lease runs out)
            await self._persist(self.records.record_sent, row, result, prepared.notification)
            self.stats["sent"] += 1
            await store.finish(row.id)

    def _narrowed_channels(self, only: egress.AllowList) -> Mapping[str, Channel]:
        """The channels of tenants with this ``egress.allow``: a client of their own whose
        connections pass the platform policy *and* the list (it never widens). One per distinct
        list, kept for the life of the loop (as the worker keeps its narrowed clients)."""
        found = self._narrowed.get(only)
        if found is None:
            client = httpx.AsyncClient(timeout=self._timeout, follow_redirects=False)
            self._narrowed_clients.append(client)
            found = self.channel_factory(client)
            # after the factory, which may guard the client with the platform policy alone
            base = self.egress_policy or egress.default_policy()
            egress_clients.guard(client, egress.EgressPolicy(base.allow, only))
            self._narrowed[only] = found
        return found

    async def _persist(self, record: Callable[..., None], *args: Any) -> None:
        """Run ``record`` (a save, on a worker thread) until it succeeds, for up to a lease."""

        def retrying(retry_state: RetryCallState) -> None:
            log.warning("recording a delivery failed (%s); retrying", failure(retry_state))

        saving = AsyncRetrying(
            retry=retry_if_exception_type((PersistenceError, psycopg.Error)),
            wait=wait_fixed(RECONNECT_MIN_S),
            stop=stop_after_delay(self.config.lease_s) | stop_when_set(self._stop),
            before_sleep=retrying,
            reraise=True,
        )
        await saving(asyncio.to_thread, record, *args)

    async def _defer(self, store: OutboxStore, row: OutboxRow, delay: float) -> None:
        self.stats["deferred"] += 1
        await store.defer([row.id], delay)

    async def _fail(self, store: OutboxStore, row: OutboxRow, reason: str) -> None:
        log.info("notification %s failed: %s", row.notification_id, reason)
        await asyncio.to_thread(self.records.record_failed, row, reason, True)
        self.stats["failed"] += 1
        await store.finish(row.id)

    async def _transient(
        self, store: OutboxStore, row: OutboxRow, reason: str, retry_after: float | None
    ) -> None:
        attempts = row.attempts + 1
        if attempts >= self.config.max_attempts:
            await self._fail(store, row, f"gave up after {attempts} attempts: {reason}")
            return
        delay = self.backoff(attempts, retry_after)
        log.info("notification %s: %s; retry in %.2fs", row.notification_id, reason, delay)
        await asyncio.to_thread(self.records.record_failed, row, reason, False)
        self.stats["retried"] += 1
        await store.retry(row.id, delay, reason)

    def backoff(self, attempts: int, retry_after: float | None = None) -> float:
        """Seconds before the next attempt: the provider's Retry-After, else exponential."""
        cfg = self.config
        if retry_after is not None:
            return min(max(retry_after, 0.0), cfg.backoff_max_s)
        delay: float = min(cfg.backoff_max_s, cfg.backoff_base_s * 2.0 ** (attempts - 1))
        return delay * random.uniform(0.75, 1.0)  # jitter spreads a burst of retries
