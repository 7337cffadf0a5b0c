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

One tenant's data never stops another's: an event that fails ``park_after`` times with an
error of its *data* (``PARKABLE``: a value PostgreSQL refuses, a violated constraint, a value
a handler cannot read) is parked: recorded in ``projection_parked`` with its aggregate and
tenant, and the position moves past it in the same transaction. Every later event of that
aggregate is parked behind it (never applied on top of a gap), so each aggregate's rows are
exactly those of a rebuild up to its first parked event, and every other aggregate's rows are
exactly a rebuild's. ``retry_parked`` (``platinum projections retry``) applies an aggregate's
parked events again, in order, once the cause is fixed. An error that is not about the event
(the database away, a missing table) parks nothing: the projection waits, as before.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import psycopg
from eventsourcing import persistence
from eventsourcing.application import Application
from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from psycopg import sql

log = logging.getLogger(__name__)

Cursor = psycopg.Cursor[Any]

PARKABLE: tuple[type[BaseException], ...] = (
    psycopg.DataError,  # e.g. text with NUL, a number out of range
    psycopg.IntegrityError,  # a constraint the event does not satisfy
    persistence.DataError,  # the same, as the library's datastore re-raises them
    persistence.IntegrityError,
    ValueError,  # a handler cannot read the event's values (UnicodeError too)
    TypeError,
    KeyError,
)
"""Errors that come from the event's data: after ``park_after`` attempts the event is
parked, not waited on. Anything else (the database away, a missing table, a bug hitting every
event) stops the projection, which retries until it is fixed."""

PARK_AFTER = 3


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


def _first(row: Any) -> Any:
    """The first column, whatever the cursor's row factory (the library's is dict_row)."""
    return next(iter(row.values())) if isinstance(row, dict) else row[0]


class _Unreadable:
    """Stands in for an event the mapper cannot read, so it can still be parked."""

    tenant_id = None

    def __init__(self, originator_id: Any, originator_version: int) -> None:
        self.originator_id, self.originator_version = originator_id, originator_version


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
        last = events[-1][1]
        with self.datastore.transaction(commit=True) as curs:
            position = self._serialize(curs, projection, app)
            if position >= first:
                raise StalePositionError(projection.name, app, first - 1, position)
            held = self._parked_among(curs, projection.name, app, events)
            # one round trip per batch, not per statement (handlers that read still may)
            with curs.connection.pipeline():
                if held:  # an aggregate with a parked event: its later events park behind it
                    for event, tracking in events:
                        if event.originator_id in held:
                            self._park(curs, projection.name, tracking, event,
                                       "an earlier event of this aggregate is parked")  # fmt: skip
                    events = [(e, t) for e, t in events if e.originator_id not in held]
                if events:
                    projection.apply(curs, events)
                # a stuck event this batch got past is stuck no more, whoever recorded it
                curs.execute(
                    "DELETE FROM projection_failures WHERE projection = %s"
                    " AND application = %s AND notification_id <= %s",
                    (projection.name, app, last.notification_id),
                )
            self._insert_tracking(curs, last)

    @staticmethod
    def _parked_among(
        curs: Cursor, projection: str, app: str, events: Sequence[tuple[Any, Tracking]]
    ) -> set[Any]:
        """The aggregates of ``events`` that have a parked event (their later ones wait)."""
        ids = list({e.originator_id for e, _ in events})
        rows = curs.execute(
            "SELECT DISTINCT originator_id FROM projection_parked WHERE projection = %s"
            " AND application = %s AND originator_id = ANY(%s)",
            (projection, app, ids),
        ).fetchall()
        return {_first(r) for r in rows}

    @staticmethod
    def _park(
        curs: Cursor,
        projection: str,
        tracking: Tracking,
        event: Any,
        error: str,
        topic: str | None = None,
    ) -> None:
        tenant = getattr(event, "tenant_id", None)
        curs.execute(
            # an event without a tenant id (most after the first) takes its aggregate's
            "INSERT INTO projection_parked (projection, application, notification_id,"
            " originator_id, originator_version, topic, tenant_id, error)"
            " VALUES (%s, %s, %s, %s, %s, %s, coalesce(%s, (SELECT p.tenant_id FROM"
            " projection_parked p WHERE p.projection = %s AND p.application = %s"
            " AND p.originator_id = %s LIMIT 1)), %s) ON CONFLICT DO NOTHING",
            (
                projection, tracking.application_name, tracking.notification_id,
                event.originator_id, getattr(event, "originator_version", None),
                topic or f"{type(event).__module__}:{type(event).__qualname__}",
                None if tenant is None else str(tenant),
                projection, tracking.application_name, event.originator_id, error[:2000],
            ),
        )  # fmt: skip

    def park(
        self,
        projection: BatchProjection,
        event: Any,
        tracking: Tracking,
        error: str,
        topic: str | None = None,
    ) -> None:
        """Park the event ``projection`` cannot apply and move the position past it (one
        transaction); StalePositionError when someone else moved it meanwhile."""
        app = tracking.application_name
        with self.datastore.transaction(commit=True) as curs:
            position = self._serialize(curs, projection, app)
            if position >= tracking.notification_id:
                raise StalePositionError(
                    projection.name, app, tracking.notification_id - 1, position
                )
            self._park(curs, projection.name, tracking, event, error, topic)
            curs.execute(
                "DELETE FROM projection_failures WHERE projection = %s AND application = %s",
                (projection.name, app),
            )
            self._insert_tracking(curs, tracking)

    def retry_parked(self, projection: BatchProjection, app: Application[Any]) -> dict[str, int]:
        """Apply each parked aggregate's events again, in order, one aggregate per
        transaction: applied ones leave ``projection_parked``; failing ones stay (error
        updated). Returns ``{"applied": events, "still_parked": events}``."""
        with self.datastore.transaction(commit=False) as curs:
            aggregates = [_first(r) for r in curs.execute(
                "SELECT originator_id FROM projection_parked WHERE projection = %s"
                " AND application = %s GROUP BY originator_id ORDER BY min(notification_id)",
                (projection.name, app.name),
            ).fetchall()]  # fmt: skip
        applied = still = 0
        for aggregate in aggregates:
            ids: list[int] = []
            try:
                with self.datastore.transaction(commit=True) as curs:
                    self._serialize(curs, projection, app.name)
                    # inside the lock: a live runner may have parked a later event meanwhile
                    ids = [_first(r) for r in curs.execute(
                        "SELECT notification_id FROM projection_parked WHERE projection = %s"
                        " AND application = %s AND originator_id = %s ORDER BY notification_id",
                        (projection.name, app.name, aggregate),
                    ).fetchall()]  # fmt: skip
                    notifications = [n for i in ids for n in app.recorder.select_notifications(i, 1)
                                     if n.id == i]  # fmt: skip
                    batch = [(app.mapper.to_domain_event(n), Tracking(app.name, n.id))
                             for n in notifications]  # fmt: skip
                    if batch:
                        projection.apply(curs, batch)
                    curs.execute(
                        "DELETE FROM projection_parked WHERE projection = %s AND application = %s"
                        " AND notification_id = ANY(%s)",
                        (projection.name, app.name, ids),
                    )
                applied += len(ids)
            except PARKABLE as exc:
                still += len(ids)
                with self.datastore.transaction(commit=True) as curs:
                    curs.execute(
                        "UPDATE projection_parked SET error = %s WHERE projection = %s"
                        " AND application = %s AND originator_id = %s AND notification_id ="
                        " (SELECT min(notification_id) FROM projection_parked WHERE"
                        " projection = %s AND application = %s AND originator_id = %s)",
                        (f"{type(exc).__name__}: {exc}"[:2000], projection.name, app.name,
                         aggregate, projection.name, app.name, aggregate),
                    )  # fmt: skip
        return {"applied": applied, "still_parked": still}

    def record_failure(
        self, projection: str, app: str, notification_id: int, topic: str, error: str
    ) -> int:
        """Note (or count again) the event ``projection`` cannot apply (own transaction);
        returns how many times in a row it failed."""
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
                " notification_id = EXCLUDED.notification_id, topic = EXCLUDED.topic"
                " RETURNING attempts",
                (projection, app, notification_id, topic, error[:2000]),
            )
            row = curs.fetchone()
        return 1 if row is None else int(_first(row))

    def reset(self, projection: BatchProjection, application_name: str) -> bool:
        """Forget what ``projection`` derived from ``application_name`` (one transaction)."""
        from psycopg import sql

        with self.datastore.transaction(commit=True) as curs:
            self._serialize(curs, projection, application_name)
            if not projection.reset(curs, application_name):
                return False
            # a rebuild looks at every event afresh: a fixed one applies, a bad one parks again
            curs.execute(
                "DELETE FROM projection_parked WHERE projection = %s AND application = %s",
                (projection.name, application_name),
            )
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
            event: Any = self.app.mapper.to_domain_event(notification)
        except Exception:  # not even readable: park it under a stand-in
            event = _Unreadable(notification.originator_id, notification.originator_version)
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
        """Apply this projection's parked events of this application again (see the view)."""
        return self.view.retry_parked(self.projection, self.app)

    def rebuild(self) -> int:
        """Reset and re-apply every event. An append-only projection keeps its rows and
        position (see ``projections.audit.chain``) and only catches up."""
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
