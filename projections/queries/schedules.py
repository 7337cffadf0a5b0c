"""Schedules as the API and the ticker read them: one, a workflow's page, every active one."""

from __future__ import annotations

from uuid import UUID

from projections.queries.paging import Conn, PageOf, PageRequest, Row, fetch_page


def schedule(conn: Conn, schedule_id: UUID) -> Row | None:
    return conn.execute("SELECT * FROM schedules WHERE id = %s", (schedule_id,)).fetchone()


def list_schedules(conn: Conn, page: PageRequest, *, workflow_id: UUID) -> PageOf:
    """A workflow's schedules, oldest first."""
    return fetch_page(
        conn, "SELECT * FROM schedules", page, where=["workflow_id = %s"], params=[workflow_id]
    )


def active_schedules(conn: Conn) -> list[Row]:
    """Every active schedule of every tenant (the ticker's read, on the system role)."""
    return conn.execute(
        "SELECT id, tenant_id, workflow_id, cron, timezone, input, overlap, catchup,"
        " active_since, version FROM schedules WHERE status = 'active' ORDER BY id"
    ).fetchall()
