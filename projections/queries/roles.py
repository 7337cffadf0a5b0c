"""Roles as the API reads them: a page of the global roles."""

from __future__ import annotations

from projections.queries.paging import Conn, PageOf, PageRequest, fetch_page


def list_roles(conn: Conn, page: PageRequest) -> PageOf:
    """Oldest first (the built-ins, then custom roles)."""
    return fetch_page(conn, "SELECT * FROM roles", page)
