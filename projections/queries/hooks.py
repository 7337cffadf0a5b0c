"""Hooks as the API reads them (never a secret: the read model has none)."""

from __future__ import annotations

from uuid import UUID

from projections.queries.paging import Conn, PageOf, PageRequest, Row, fetch_page


def hook(conn: Conn, hook_id: UUID) -> Row | None:
    return conn.execute("SELECT * FROM hooks WHERE id = %s", (hook_id,)).fetchone()


def list_hooks(conn: Conn, page: PageRequest, *, workflow_id: UUID) -> PageOf:
    """A workflow's hooks, oldest first."""
    return fetch_page(
        conn, "SELECT * FROM hooks", page, where=["workflow_id = %s"], params=[workflow_id]
    )
