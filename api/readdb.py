"""The read model, read as the API's role: every transaction is fenced to one tenant by RLS."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from api.persistence import check_cheaply


def open_pool(
    conninfo: str,
    size: int,
    *,
    timeout: float = 1.0,
    connect_timeout: float = 2.0,
    reconnect_timeout: float = 1.0,
) -> ConnectionPool[psycopg.Connection[dict[str, Any]]]:
    """The read pool: at most ``size`` connections, each checked before it is lent; a caller
    waits ``timeout`` seconds at most (then ``PoolTimeout``: a 503), and a failed
    re-connection is given up after ``reconnect_timeout`` so the next use connects at once
    when the database is back (see api/persistence.py)."""
    pool: ConnectionPool[psycopg.Connection[dict[str, Any]]] = ConnectionPool(
        conninfo,
        min_size=1,
        max_size=max(1, size),
        kwargs={"row_factory": dict_row, "autocommit": False,
                "connect_timeout": max(1, round(connect_timeout))},
        open=True,
        name="read-model",
        timeout=timeout,
        reconnect_timeout=reconnect_timeout,
        check=check_cheaply,
    )  # fmt: skip
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
