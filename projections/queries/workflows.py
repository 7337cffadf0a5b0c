"""Workflows as the API reads them: one, a page of them, and their definition versions."""

from __future__ import annotations

from uuid import UUID

from projections.queries.paging import Conn, PageOf, PageRequest, Row, fetch_page


def workflow(conn: Conn, workflow_id: UUID) -> Row | None:
    return conn.execute("SELECT * FROM workflows WHERE id = %s", (workflow_id,)).fetchone()


def list_workflows(conn: Conn, page: PageRequest, *, status: str | None = None) -> PageOf:
    """Oldest first, of one ``status`` if given."""
    where, params = (["status = %s"], [status]) if status is not None else ([], [])
    return fetch_page(conn, "SELECT * FROM workflows", page, where=where, params=params)


def versions(conn: Conn, workflow_id: UUID) -> list[Row]:
    """Every definition version, oldest first."""
    return conn.execute(
        "SELECT definition_version, definition, created_by, created_at FROM workflow_versions"
        " WHERE workflow_id = %s ORDER BY definition_version",
        (workflow_id,),
    ).fetchall()


def definition(conn: Conn, workflow_id: UUID, definition_version: int) -> Row | None:
    """One definition version's definition (``{"definition": {...}}``)."""
    return conn.execute(
        "SELECT definition FROM workflow_versions"
        " WHERE workflow_id = %s AND definition_version = %s",
        (workflow_id, definition_version),
    ).fetchone()
