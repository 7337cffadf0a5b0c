"""Notifications as the API reads them: one, and a page of a user's inbox."""

from __future__ import annotations

from uuid import UUID

from projections.queries.paging import Conn, PageOf, PageRequest, Row, fetch_page


def notification(conn: Conn, notification_id: UUID) -> Row | None:
    return conn.execute(
        "SELECT * FROM notifications WHERE id = %s", (notification_id,)
    ).fetchone()


def inbox(
    conn: Conn, page: PageRequest, recipient_user_id: UUID, *, unread: bool | None = None
) -> PageOf:
    """The recipient's notifications, newest first; only unread (True) or read (False)."""
    where = ["recipient_user_id = %s"]
    if unread is not None:
        where.append("read_at IS NULL" if unread else "read_at IS NOT NULL")
    return fetch_page(
        conn, "SELECT * FROM notifications", page, where=where, params=[recipient_user_id],
        descending=True,
    )  # fmt: skip
