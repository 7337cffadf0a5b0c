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
