"""Batched projection runner on the library's tracking machinery.

Each batch of events is applied and its position recorded (the library's tracking row) in ONE
transaction: a crash anywhere leaves either the whole batch or none of it, so every event is
applied exactly once. The library's own ``ProjectionRunner`` commits once per event; batching is
what lets a rebuild run at tens of thousands of events per second (see docs/performance.md).

Several projector processes may run: a PostgreSQL advisory lock per projection lets one of them
work while the others stand by, ready to take over when its session ends.
"""

from __future__ import annotations

import logging
import threading
import zlib
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import psycopg
from eventsourcing.application import Application
from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresTrackingRecorder

log = logging.getLogger(__name__)

Cursor = psycopg.Cursor[Any]


class BatchProjection(Protocol):
    """Applies a batch of domain events to the view through the given cursor."""

    name: str

    def apply(self, curs: Cursor, events: Sequence[tuple[Any, Tracking]]) -> None: ...

    def reset(self, curs: Cursor) -> None:
        """Delete everything this projection wrote (before a rebuild)."""


class ProjectionView(PostgresTrackingRecorder):
    """The library's tracking recorder, with one transaction spanning rows and tracking."""

    def write_batch(
        self, projection: BatchProjection, events: Sequence[tuple[Any, Tracking]]
    ) -> None:
        with self.datastore.transaction(commit=True) as curs:
            projection.apply(curs, events)
            self._insert_tracking(curs, events[-1][1])

    def reset(self, projection: BatchProjection, application_name: str) -> None:
        from psycopg import sql

        with self.datastore.transaction(commit=True) as curs:
            projection.reset(curs)
            curs.execute(
                sql.SQL("DELETE FROM {} WHERE application_name = %s").format(
                    sql.Identifier(self.tracking_table_name)
                ),
                (application_name,),
            )


class ProjectionRunner:
    """Follows one application's events into one projection, in batches, until stopped."""

    def __init__(
        self,
        app: Application[Any],
        projection: BatchProjection,
        view: ProjectionView,
        *,
        batch_size: int = 500,
        idle_wait_s: float = 0.05,
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

    @property
    def lock_key(self) -> int:
        return zlib.crc32(f"projection:{self.projection.name}:{self.app.name}".encode())

    def position(self) -> int:
        return self.view.max_tracking_id(self.app.name) or 0

    def head(self) -> int:
        return self.app.recorder.max_notification_id() or 0

    def run_once(self) -> int:
        """Apply the next batch; returns how many events it applied."""
        start = self.position() + 1
        notifications = self.app.recorder.select_notifications(start, self.batch_size)
        if not notifications:
            return 0
        batch = [
            (self.app.mapper.to_domain_event(n), Tracking(self.app.name, n.id))
            for n in notifications
        ]
        self.view.write_batch(self.projection, batch)
        if self.on_batch:
            self.on_batch(len(batch))
        return len(batch)

    def catch_up(self) -> int:
        """Apply every event up to the head; returns how many."""
        total = 0
        while n := self.run_once():
            total += n
        return total

    def rebuild(self) -> int:
        self.view.reset(self.projection, self.app.name)
        return self.catch_up()

    def _loop(self) -> None:
        lock_conn = None
        try:
            if self.lock_conninfo:
                lock_conn = psycopg.connect(self.lock_conninfo, autocommit=True)
                while not self._stop.is_set():
                    row = lock_conn.execute(
                        "SELECT pg_try_advisory_lock(%s)", (self.lock_key,)
                    ).fetchone()
                    if row and row[0]:
                        break
                    self._stop.wait(1.0)
            while not self._stop.is_set():
                if not self.run_once():
                    self._stop.wait(self.idle_wait_s)
        except BaseException as exc:
            self.error = exc
            log.exception("projection %s stopped on error", self.projection.name)
        finally:
            if lock_conn is not None:
                lock_conn.close()

    def start(self) -> ProjectionRunner:
        self._thread = threading.Thread(
            target=self._loop, name=f"projector-{self.projection.name}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
