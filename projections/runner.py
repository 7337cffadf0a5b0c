"""The runner loop: follows one application's events into one projection, in batches.

Several projector processes may run: a PostgreSQL advisory lock per projection lets one of them
work while the others stand by, ready to take over when its session ends. Correctness does not
rest on it: each batch is fenced in its own transaction (``projections.view``).

A failing batch is retried with backoff (the runner never dies silently), one event at a
time: the events before the failing one are applied and the runner stops exactly at it. It
records that event in ``projection_failures`` (projection, application, position, topic,
error, attempts); the batch transaction that gets past it deletes the row, whichever process
applies it; ``/readyz`` and ``/metrics`` show it, with the lag. An event whose data is at
fault is parked after ``park_after`` attempts (``projections.parking``).
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Callable
from typing import Any

import psycopg
from eventsourcing.application import Application
from eventsourcing.persistence import Tracking
from psycopg import sql
from tenacity import RetryCallState

from projections import parking
from projections.batch import BatchProjection, mapper_for
from projections.looping import LoopThread, failure
from projections.parking import PARK_AFTER, PARKABLE, Unreadable
from projections.view import ProjectionView, StalePositionError

log = logging.getLogger(__name__)


class ProjectionRunner(LoopThread):
    """Follows one application's events into one projection, in batches, until stopped."""

    def __init__(
        self,
        app: Application[Any],
        projection: BatchProjection,
        view: ProjectionView,
        *,
        batch_size: int = 500,
        idle_wait_s: float = 0.5,
        lock_conninfo: str | None = None,
        on_batch: Callable[[int], None] | None = None,
        park_after: int | None = PARK_AFTER,
    ) -> None:
        self.app = app
        self.projection = projection
        self.view = view
        self.batch_size = batch_size
        self.idle_wait_s = idle_wait_s
        self.lock_conninfo = lock_conninfo
        self.on_batch = on_batch
        self.park_after = park_after
        super().__init__()
        self.error: BaseException | None = None
        self._suspect_until = 0  # after a failed batch: its events go one at a time
        self._lock_conn: psycopg.Connection[Any] | None = None  # leadership, while held

    @property
    def lock_key(self) -> int:
        return zlib.crc32(f"projection:{self.projection.name}:{self.app.name}".encode())

    def position(self) -> int:
        return self.view.max_tracking_id(self.app.name) or 0

    def head(self) -> int:
        return self.app.recorder.max_notification_id() or 0

    def run_once(self) -> int:
        """Apply the next batch; returns how many events it applied.

        After a failed batch, batches are of one event until one is applied: the failing
        event is then known, recorded in ``projection_failures`` and re-raised.
        """
        start = self.position() + 1
        size = 1 if start <= self._suspect_until else self.batch_size
        notifications = self.app.recorder.select_notifications(start, size)
        if not notifications:
            return 0
        try:
            batch = [
                (mapper_for(self.app, self.projection).to_domain_event(n),
                 Tracking(self.app.name, n.id))
                for n in notifications
            ]
            self.view.write_batch(self.projection, batch)
        except StalePositionError as exc:
            log.info("%s; re-reading", exc)
            return 0
        except Exception as exc:
            if len(notifications) > 1:
                self._suspect_until = notifications[-1].id  # one of these: find which
            elif self._failed_alone(notifications[0], exc):
                return 1  # parked: the projection goes on with the next event
            raise
        if self.on_batch:
            self.on_batch(len(batch))
        return len(batch)

    def _failed_alone(self, notification: Any, exc: Exception) -> bool:
        """Record the failure of the one event; park it when its data is at fault and it
        failed ``park_after`` times. True when it was parked."""
        error = f"{type(exc).__name__}: {exc}"
        try:
            attempts = self.view.record_failure(
                self.projection.name, self.app.name, notification.id, notification.topic, error
            )
        except Exception:  # the database is away too: the event's error matters more
            log.warning("projection %s of %s: could not record the failure",
                        self.projection.name, self.app.name, exc_info=True)  # fmt: skip
            return False
        if not self.park_after or attempts < self.park_after or not isinstance(exc, PARKABLE):
            return False
        try:
            event: Any = mapper_for(self.app, self.projection).to_domain_event(notification)
        except Exception:  # not even readable: park it under a stand-in
            event = Unreadable(notification.originator_id, notification.originator_version)
        try:
            self.view.park(self.projection, event, Tracking(self.app.name, notification.id),
                           error, notification.topic)  # fmt: skip
        except StalePositionError:
            return True  # someone else got past it
        log.error("projection %s of %s: parked event %s (%s) of aggregate %s: %s",
                  self.projection.name, self.app.name, notification.id, notification.topic,
                  notification.originator_id, error)  # fmt: skip
        if self.on_batch:
            self.on_batch(1)
        return True

    def catch_up(self) -> int:
        """Apply every event up to the head; returns how many. An event whose data fails
        is retried at once until it is parked (no back-off: nothing else is waiting)."""
        total = 0
        while self.position() < self.head():
            try:
                total += self.run_once()
            except PARKABLE:
                if not self.park_after:
                    raise
        return total

    def retry_parked(self) -> dict[str, int]:
        """Apply this projection's parked events of this application again
        (``projections.parking``)."""
        return parking.retry_parked(self.view, self.projection, self.app)

    def rebuild(self) -> int:
        """Reset and re-apply every event. An append-only projection keeps its rows and
        position (see ``projections.audit.projection``) and only catches up."""
        self._suspect_until = 0
        if not self.view.reset(self.projection, self.app.name):
            log.warning(
                "projection %s is append-only: kept as is (its owner may reset it)",
                self.projection.name,
            )
        return self.catch_up()

    def _acquire_leadership(self) -> psycopg.Connection[Any] | None:
        """Block (until stopped) on this projection's session-level advisory lock."""
        if not self.lock_conninfo:
            return None
        lock_conn = psycopg.connect(self.lock_conninfo, autocommit=True)
        while not self._stop.is_set():
            self.last_beat = time.monotonic()  # a stand-by is alive too
            row = lock_conn.execute("SELECT pg_try_advisory_lock(%s)", (self.lock_key,)).fetchone()
            if row and row[0]:
                # The library NOTIFYs a channel named after the events table on every save:
                # listening lets an idle projector wake at once instead of polling.
                channel = getattr(self.app.recorder, "channel_name", None)
                if channel:
                    lock_conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                return lock_conn
            self._stop.wait(1.0)
        lock_conn.close()
        return None

    def _idle(self, lock_conn: psycopg.Connection[Any] | None) -> None:
        """Wait for the next save's notification (or ``idle_wait_s`` at most)."""
        if lock_conn is None:
            self._stop.wait(self.idle_wait_s)
            return
        for _ in lock_conn.notifies(timeout=self.idle_wait_s, stop_after=1):
            pass

    def _loop(self) -> None:
        rounds = self._retrying(first_s=self.idle_wait_s, max_s=30.0, on_retry=self._failed)
        try:
            while not self._stop.is_set():
                rounds(self._round)  # a new retry state after each round that went well
        finally:
            self._release()

    def _round(self) -> None:
        """Lead (waiting for the lock if need be), then apply one batch or idle."""
        if self._lock_conn is None:
            self._lock_conn = self._acquire_leadership()
        self.last_beat = time.monotonic()
        if self._stop.is_set():
            return
        if not self.run_once():
            self._idle(self._lock_conn)
        self.error = None

    def _failed(self, retry_state: RetryCallState) -> None:
        # keep going: a lost connection heals; a failing event shows up as lag
        self.error = failure(retry_state)
        log.error("projection %s of %s failed; retrying in %.1fs", self.projection.name,
                  self.app.name, retry_state.upcoming_sleep, exc_info=self.error)  # fmt: skip
        self._release()

    def _release(self) -> None:
        lock_conn, self._lock_conn = self._lock_conn, None
        if lock_conn is not None:
            lock_conn.close()

    def liveness(self) -> dict[str, Any]:
        """Seconds since the loop last went round, and whether its thread is alive (a thread
        that died anyway is started again here)."""
        if self._thread is not None and not self._thread.is_alive() and not self._stop.is_set():
            log.error("projection %s of %s: thread died; starting it again",
                      self.projection.name, self.app.name)  # fmt: skip
            self.start()
        age = time.monotonic() - self.last_beat
        alive = self._thread is not None and self._thread.is_alive()
        ok = alive and age <= max(60.0, 4 * self.idle_wait_s)
        return {"projector": f"{self.projection.name}:{self.app.name}", "ok": ok,
                "loops": {"project": {"last_beat_s": round(age, 3), "alive": alive, "ok": ok}}}

    def _thread_name(self) -> str:
        return f"projector-{self.projection.name}"
