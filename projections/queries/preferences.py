"""A user's preferences as the API reads them."""

from __future__ import annotations

from uuid import UUID

from projections.queries.paging import Conn, Row


def preference(conn: Conn, user_id: UUID, key: str) -> Row | None:
    """``{key, value, version, created_at, updated_at}`` of one of the user's preferences."""
    return conn.execute(
        "SELECT preference_key AS key, preference_value AS value, version, created_at,"
        " updated_at FROM user_preferences WHERE user_id = %s AND preference_key = %s",
        (user_id, key),
    ).fetchone()
