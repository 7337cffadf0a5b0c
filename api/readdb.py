"""The read model, read as the API's role: every transaction is fenced to one tenant by RLS."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool


def open_pool(conninfo: str, size: int) -> ConnectionPool[psycopg.Connection[dict[str, Any]]]:
    pool: ConnectionPool[psycopg.Connection[dict[str, Any]]] = ConnectionPool(
        conninfo,
        min_size=1,
        max_size=size,
        kwargs={"row_factory": dict_row, "autocommit": False},
        open=True,
        name="read-model",
    )
    return pool


@contextmanager
def tenant_tx(
    pool: ConnectionPool[psycopg.Connection[dict[str, Any]]], tenant_id: UUID | str | None
) -> Iterator[psycopg.Connection[dict[str, Any]]]:
    """A transaction in which row-level security sees only ``tenant_id``'s rows (none if None)."""
    with pool.connection() as conn, conn.transaction():
        conn.execute(
            "SELECT set_config('app.tenant_id', %s, true)",
            ("" if tenant_id is None else str(tenant_id),),
        )
        yield conn
