"""The projections' writes: a batch (or a parked event) and its position in ONE transaction.

Each batch of events is applied and its position recorded (the library's tracking row) in ONE
transaction: a crash anywhere leaves either the whole batch or none of it, so every event is
applied exactly once. The library's own ``ProjectionRunner`` commits once per event; batching is
what lets a rebuild run at tens of thousands of events per second (see docs/performance.md).

Leadership of a projection (``projections.runner``) is only an economy, not what makes it
correct: every batch transaction (and every reset) first takes a transaction-level advisory
lock for its (projection, application) and re-reads the position inside it, so a batch that
someone else (another runner, a ``rebuild``) already applied is refused with
``StalePositionError`` and nothing is written twice.

Handlers run inside a psycopg pipeline: a batch costs a few round trips, not one per statement.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from psycopg import sql

from projections.batch import BatchProjection, Cursor, first_column
from projections.parking import park_row, parked_among


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

    def serialize(self, curs: Cursor, projection: BatchProjection, app: str) -> int:
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
            position = self.serialize(curs, projection, app)
            if position >= first:
                raise StalePositionError(projection.name, app, first - 1, position)
            held = parked_among(curs, projection.name, app, events)
            # one round trip per batch, not per statement (handlers that read still may)
            with curs.connection.pipeline():
                if held:  # an aggregate with a parked event: its later events park behind it
                    for event, tracking in events:
                        if event.originator_id in held:
                            park_row(curs, projection.name, tracking, event,
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
            position = self.serialize(curs, projection, app)
            if position >= tracking.notification_id:
                raise StalePositionError(
                    projection.name, app, tracking.notification_id - 1, position
                )
            park_row(curs, projection.name, tracking, event, error, topic)
            curs.execute(
                "DELETE FROM projection_failures WHERE projection = %s AND application = %s",
                (projection.name, app),
            )
            self._insert_tracking(curs, tracking)

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
        return 1 if row is None else int(first_column(row))

    def reset(self, projection: BatchProjection, application_name: str) -> bool:
        """Forget what ``projection`` derived from ``application_name`` (one transaction)."""
        with self.datastore.transaction(commit=True) as curs:
            self.serialize(curs, projection, application_name)
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
