"""Tenants as the API and the command line read them."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row

from projections.queries.paging import Conn, Row


def tenant(conn: Conn, tenant_id: UUID) -> Row | None:
    return conn.execute("SELECT * FROM tenants WHERE id = %s", (tenant_id,)).fetchone()


def tenant_id_by_slug(conn: psycopg.Connection[Any], slug: str) -> UUID | None:
    """The id of the tenant with this slug (any connection: the CLI's system role sees all)."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute("SELECT id FROM tenants WHERE slug = %s", (slug,)).fetchone()
    return None if row is None else UUID(str(row["id"]))


def list_all(conn: psycopg.Connection[Any], limit: int = 500) -> list[Row]:
    """Every tenant, newest first (for the platform admin: a connection that sees them all)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT id, slug, name, status, created_at FROM tenants"
            " ORDER BY created_at DESC, id LIMIT %s",
            (limit,),
        ).fetchall()
