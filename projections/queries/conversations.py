"""Conversation turns as the API reads them: a page of a user's."""

from __future__ import annotations

from uuid import UUID

from projections.queries.paging import Conn, PageOf, PageRequest, fetch_page


def turns(
    conn: Conn, page: PageRequest, user_id: UUID, *, session_id: str | None = None
) -> PageOf:
    """The user's turns (of one session if given), oldest first."""
    where: list[str] = ["user_id = %s"]
    params: list[object] = [user_id]
    if session_id is not None:
        where.append("session_id = %s")
        params.append(session_id)
    return fetch_page(conn, "SELECT * FROM conversations", page, where=where, params=params)
