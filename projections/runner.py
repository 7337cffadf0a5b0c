"""Batched projection runner on the library's tracking machinery.

Each batch of events is applied and its position recorded (the library's tracking row) in ONE
transaction: a crash anywhere leaves either the whole batch or none of it, so every event is
applied exactly once. The library's own ``ProjectionRunner`` commits once per event; batching is
what lets a rebuild run at tens of thousands of events per second (see docs/performance.md).

Several projector processes may run: a PostgreSQL advisory lock per projection lets one of them
work while the others stand by, ready to take over when its session ends. Leadership is only an
economy, not what makes it correct: every batch transaction (and every reset) first takes a
transaction-level advisory lock for its (projection, application) and re-reads the position
inside it, so a batch that someone else (another runner, a ``rebuild``) already applied is
refused with ``StalePositionError`` and nothing is written twice.

Handlers run inside a psycopg pipeline: a batch costs a few round trips, not one per statement.
A failing batch is retried with backoff (the runner never dies silently), one event at a
time: the events before the failing one are applied and the runner stops exactly at it. It
records that event in ``projection_failures`` (projection, application, position, topic,
error, attempts); the batch transaction that gets past it deletes the row, whichever process
applies it; ``/readyz`` and ``/metrics`` show it, with the lag.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import psycopg
from eventsourcing.application import Application
from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from psycopg import sql

log = logging.getLogger(__name__)

Cursor = psycopg.Cursor[Any]


class BatchProjection(Protocol):
    """Applies a batch of domain events to the view through the given cursor."""

    name: str

    def apply(self, curs: Cursor, events: Sequence[tuple[Any, Tracking]]) -> None: ...

    def reset(self, curs: Cursor, application_name: str) -> bool:
        """Delete what this projection wrote from ``application_name``'s events (before a
        rebuild); return False to keep the rows and the position (an append-only view)."""
        ...


class StalePositionError(Exception):
    """Another runner (or a rebuild) moved this projection's position meanwhile."""

    def __init__(self, projection: str, application: str, expected: int, actual: int) -> None:
        self.projection, self.application = projection, application
        self.expected, self.actual = expected, actual
        super().__init__(
            f"projection {projection} of {application}: expected position {expected},"
            f" found {actual}"
        )


# Transaction-level advisory locks use the two-int key space, which never overlaps the
# one-bigint key space of the runners' session-level leadership locks.
_XACT_LOCK_CLASS = 0x504C4154  # "PLAT"


def _xact_lock_key(projection: str, application_name: str) -> int:
    return zlib.crc32(f"{projection}:{application_name}".encode()) - 2**31


class ProjectionView(PostgresTrackingRecorder):
    """The library's tracking recorder, with one transaction spanning rows and tracking."""

    def _serialize(self, curs: Cursor, projection: BatchProjection, app: str) -> int:
        """Serialize writers of (projection, app) and return the position inside the lock."""
        curs.execute(
            "SELECT pg_advisory_xact_lock(%s, %s)",
            (_XACT_LOCK_CLASS, _xact_lock_key(projection.name, app)),
        )
        return self._max_tracking_id(app, curs) or 0

    def write_batch(
        self, projection: BatchProjection, events: Sequence[tuple[Any, Tracking]]
    ) -> None:
        """Apply ``events`` and record the last one's position, atomically.

        Raises StalePositionError (and writes nothing) unless the batch starts right after
        the recorded position: a batch is applied once, whoever else runs.
        """
        app = events[0][1].application_name
        first = events[0][1].notification_id
        with self.datastore.transaction(commit=True) as curs:
            position = self._serialize(curs, projection, app)
            if position >= first:
                raise StalePositionError(projection.name, app, first - 1, position)
            # one round trip per batch, not per statement (handlers that read still may)
            with curs.connection.pipeline():
                projection.apply(curs, events)
                # a stuck event this batch got past is stuck no more, whoever recorded it
                curs.execute(
                    "DELETE FROM projection_failures WHERE projection = %s"
                    " AND application = %s AND notification_id <= %s",
                    (projection.name, app, events[-1][1].notification_id),
                )
            self._insert_tracking(curs, events[-1][1])

    def record_failure(
        self, projection: str, app: str, notification_id: int, topic: str, error: str
    ) -> None:
        """Note (or count again) the event ``projection`` cannot apply (own transaction)."""
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                "INSERT INTO projection_failures AS f (projection, application,"
                " notification_id, topic, error) VALUES (%s, %s, %s, %s, %s)"
                " ON CONFLICT (projection, application) DO UPDATE SET"
                " error = EXCLUDED.error, last_failed_at = now(),"
                " attempts = CASE WHEN f.notification_id = EXCLUDED.notification_id"
                "   THEN f.attempts + 1 ELSE 1 END,"
                " first_failed_at = CASE WHEN f.notification_id = EXCLUDED.notification_id"
                "   THEN f.first_failed_at ELSE now() END,"
                " notification_id = EXCLUDED.notification_id, topic = EXCLUDED.topic",
                (projection, app, notification_id, topic, error[:2000]),
            )

    def reset(self, projection: BatchProjection, application_name: str) -> bool:
        """Forget what ``projection`` derived from ``application_name`` (one transaction)."""
        from psycopg import sql

        with self.datastore.transaction(commit=True) as curs:
            self._serialize(curs, projection, application_name)
            if not projection.reset(curs, application_name):
                return False
            curs.execute(
                sql.SQL("DELETE FROM {} WHERE application_name = %s").format(
                    sql.Identifier(self.tracking_table_name)
                ),
                (application_name,),
            )
        return True


class ProjectionRunner:
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
    ) -> None:
        self.app = app
        self.projection = projection
        self.view = view
        self.batch_size = batch_size
        self.idle_wait_s = idle_wait_s
        self.lock_conninfo = lock_conninfo
        self.on_batch = on_batch
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.last_beat = time.monotonic()  # when the loop last went round (liveness)
        self._suspect_until = 0  # after a failed batch: its events go one at a time

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
                (self.app.mapper.to_domain_event(n), Tracking(self.app.name, n.id))
                for n in notifications
            ]
            self.view.write_batch(self.projection, batch)
        except StalePositionError as exc:
            log.info("%s; re-reading", exc)
            return 0
        except Exception as exc:
            if len(notifications) > 1:
                self._suspect_until = notifications[-1].id  # one of these: find which
            else:
                try:
                    self.view.record_failure(
                        self.projection.name, self.app.name, notifications[0].id,
                        notifications[0].topic, f"{type(exc).__name__}: {exc}")  # fmt: skip
                except Exception:  # the database is away too: the event's error matters more
                    log.warning("projection %s of %s: could not record the failure",
                                self.projection.name, self.app.name, exc_info=True)  # fmt: skip
            raise
        if self.on_batch:
            self.on_batch(len(batch))
        return len(batch)

    def catch_up(self) -> int:
        """Apply every event up to the head; returns how many."""
        total = 0
        while self.position() < self.head():
            total += self.run_once()
        return total

    def rebuild(self) -> int:
        """Reset and re-apply every event. An append-only projection keeps its rows and
        position (see ``projections.audit``) and only catches up."""
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
        delay = self.idle_wait_s
        while not self._stop.is_set():
            lock_conn = None
            try:
                lock_conn = self._acquire_leadership()
                while not self._stop.is_set():
                    self.last_beat = time.monotonic()
                    if not self.run_once():
                        self._idle(lock_conn)
                    delay = self.idle_wait_s
                    self.error = None
            except Exception as exc:
                # keep going: a lost connection heals; a failing event shows up as lag
                self.error = exc
                log.exception("projection %s of %s failed; retrying in %.1fs",
                              self.projection.name, self.app.name, delay)
                self._stop.wait(delay)
                delay = min(max(delay * 2, 0.5), 30.0)
            finally:
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

    def start(self) -> ProjectionRunner:
        self.last_beat = time.monotonic()
        self._thread = threading.Thread(
            target=self._loop, name=f"projector-{self.projection.name}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
