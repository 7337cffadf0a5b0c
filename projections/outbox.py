"""The notification outbox: a queue row for every requested notification, written exactly once.

The runner applies a batch of events and records its tracking position in one transaction,
so a Notification.Created event produces its outbox row exactly once, and only once the
event is committed. Terminal events (Sent, a permanent DeliveryFailed) delete the row, so
the table is itself a projection: replaying the events from zero yields the same queue.
Dispatchers (``engine/delivery``) read and update the rows; the two sides share only the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import Tracking

from projections.batch import Cursor

CHANNEL = "notification_outbox"
"""NOTIFY channel: dispatchers LISTEN on it to wake up as soon as rows commit."""

PRIORITY_RANK = {"urgent": 0, "high": 1, "medium": 2, "low": 3}


def _name(event: Any) -> str:
    return type(event).__qualname__


class OutboxProjection:
    """Follows platform events; only Notification events matter."""

    name = "outbox"

    def apply(self, curs: Cursor, events: Sequence[tuple[Any, Tracking]]) -> None:
        inserted = False
        for event, tracking in events:
            name = _name(event)
            if name == "Notification.Created":
                curs.execute(
                    "INSERT INTO notification_outbox"
                    " (tenant_id, notification_id, channel, priority, event_position)"
                    " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (notification_id) DO NOTHING",
                    (
                        event.tenant_id,
                        event.originator_id,
                        event.channel,
                        PRIORITY_RANK.get(event.priority, PRIORITY_RANK["medium"]),
                        tracking.notification_id,
                    ),
                )
                inserted = True
            elif name == "Notification.Sent" or (
                name == "Notification.DeliveryFailed" and getattr(event, "permanent", False)
            ):
                curs.execute(
                    "DELETE FROM notification_outbox WHERE notification_id = %s",
                    (event.originator_id,),
                )
        if inserted:
            # delivered on commit, with the rows: a listening dispatcher never wakes too early
            curs.execute("SELECT pg_notify(%s, '')", (CHANNEL,))

    def reset(self, curs: Cursor, application_name: str) -> bool:
        """Replay from zero but keep the rows: in-flight attempts and backoff survive.

        The replay inserts nothing twice (unique notification id) and deletes again the rows
        of notifications that reached a terminal event; a dispatcher that meets such a row
        meanwhile sees the notification is no longer pending and drops it unsent.
        """
        _ = (curs, application_name)
        return True
