"""A tenant's configuration entries as the API reads them."""

from __future__ import annotations

from projections.queries.paging import Conn, Row


def entry(conn: Conn, key: str) -> Row | None:
    """``{key, value, version, updated_at}`` of one entry (the value as stored: unredacted)."""
    return conn.execute(
        "SELECT config_key AS key, config_value AS value, version, updated_at"
        " FROM tenant_config WHERE config_key = %s",
        (key,),
    ).fetchone()


def entries(conn: Conn) -> list[Row]:
    """Every entry of the tenant, by key (the values as stored: unredacted)."""
    return conn.execute(
        "SELECT config_key AS key, config_value AS value, version, updated_at"
        " FROM tenant_config ORDER BY config_key"
    ).fetchall()
