"""Parked events: what a projection cannot apply for its data, set aside per aggregate.

One tenant's data never stops another's: an event that fails ``PARK_AFTER`` times with an
error of its *data* (``PARKABLE``: a value PostgreSQL refuses, a violated constraint, a value
a handler cannot read) is parked: recorded in ``projection_parked`` with its aggregate and
tenant, and the position moves past it in the same transaction (``ProjectionView.park``).
Every later event of that aggregate is parked behind it (never applied on top of a gap), so
each aggregate's rows are exactly those of a rebuild up to its first parked event, and every
other aggregate's rows are exactly a rebuild's. ``retry_parked`` (``platinum projections
retry``) applies an aggregate's parked events again, in order, once the cause is fixed. An
error that is not about the event (the database away, a missing table) parks nothing: the
projection waits, as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import psycopg
from eventsourcing import persistence
from eventsourcing.application import Application
from eventsourcing.persistence import Tracking

from projections.batch import BatchProjection, Cursor, first_column, mapper_for

if TYPE_CHECKING:
    from projections.view import ProjectionView

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


class Unreadable:
    """Stands in for an event the mapper cannot read, so it can still be parked."""

    tenant_id = None

    def __init__(self, originator_id: Any, originator_version: int) -> None:
        self.originator_id, self.originator_version = originator_id, originator_version


def parked_among(
    curs: Cursor, projection: str, app: str, events: Sequence[tuple[Any, Tracking]]
) -> set[Any]:
    """The aggregates of ``events`` that have a parked event (their later ones wait)."""
    ids = list({e.originator_id for e, _ in events})
    rows = curs.execute(
        "SELECT DISTINCT originator_id FROM projection_parked WHERE projection = %s"
        " AND application = %s AND originator_id = ANY(%s)",
        (projection, app, ids),
    ).fetchall()
    return {first_column(r) for r in rows}


def park_row(
    curs: Cursor,
    projection: str,
    tracking: Tracking,
    event: Any,
    error: str,
    topic: str | None = None,
) -> None:
    """Record ``event`` in ``projection_parked`` (the caller moves the position)."""
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


def retry_parked(
    view: ProjectionView, projection: BatchProjection, app: Application[Any]
) -> dict[str, int]:
    """Apply each parked aggregate's events again, in order, one aggregate per
    transaction: applied ones leave ``projection_parked``; failing ones stay (error
    updated). Returns ``{"applied": events, "still_parked": events}``."""
    with view.datastore.transaction(commit=False) as curs:
        aggregates = [first_column(r) for r in curs.execute(
            "SELECT originator_id FROM projection_parked WHERE projection = %s"
            " AND application = %s GROUP BY originator_id ORDER BY min(notification_id)",
            (projection.name, app.name),
        ).fetchall()]  # fmt: skip
    applied = still = 0
    for aggregate in aggregates:
        ids: list[int] = []
        try:
            with view.datastore.transaction(commit=True) as curs:
                view.serialize(curs, projection, app.name)
                # inside the lock: a live runner may have parked a later event meanwhile
                ids = [first_column(r) for r in curs.execute(
                    "SELECT notification_id FROM projection_parked WHERE projection = %s"
                    " AND application = %s AND originator_id = %s ORDER BY notification_id",
                    (projection.name, app.name, aggregate),
                ).fetchall()]  # fmt: skip
                notifications = [n for i in ids for n in app.recorder.select_notifications(i, 1)
                                 if n.id == i]  # fmt: skip
                batch = [(mapper_for(app, projection).to_domain_event(n), Tracking(app.name, n.id))
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
            with view.datastore.transaction(commit=True) as curs:
                curs.execute(
                    "UPDATE projection_parked SET error = %s WHERE projection = %s"
                    " AND application = %s AND originator_id = %s AND notification_id ="
                    " (SELECT min(notification_id) FROM projection_parked WHERE"
                    " projection = %s AND application = %s AND originator_id = %s)",
                    (f"{type(exc).__name__}: {exc}"[:2000], projection.name, app.name,
                     aggregate, projection.name, app.name, aggregate),
                )  # fmt: skip
    return {"applied": applied, "still_parked": still}
