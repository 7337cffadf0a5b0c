"""API keys as the API reads them (never a secret: the table holds only hashes)."""

from __future__ import annotations

from uuid import UUID

from projections.queries.paging import Conn, PageOf, PageRequest, Row, fetch_page


def api_key(conn: Conn, key_id: UUID) -> Row | None:
    return conn.execute("SELECT * FROM api_keys WHERE id = %s", (key_id,)).fetchone()


def list_api_keys(conn: Conn, page: PageRequest, *, include_revoked: bool = False) -> PageOf:
    """Oldest first; revoked keys only when asked for."""
    where = [] if include_revoked else ["revoked_at IS NULL"]
    return fetch_page(conn, "SELECT * FROM api_keys", page, where=where)
