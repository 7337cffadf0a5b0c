"""Keyset pagination over the read model: the cursor's format and the paged query."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias, TypedDict
from uuid import UUID

import psycopg
from typing_extensions import Unpack

DEFAULT_LIMIT = 50

Conn: TypeAlias = psycopg.Connection[dict[str, Any]]
"""A read-model connection whose rows are dicts (the API's read pool)."""
Row: TypeAlias = dict[str, Any]
PageOf: TypeAlias = tuple[list[Row], str | None]
"""One page of rows and the cursor of the next page (None on the last)."""


@dataclass(frozen=True)
class PageRequest:
    """What the client asked for: how many rows, and after which ``(created_at, id)``."""

    limit: int = DEFAULT_LIMIT
    after: tuple[datetime, str] | None = None


def encode_cursor(created_at: datetime, row_id: UUID | str) -> str:
    """An opaque cursor: base64url of ``[created_at, id]``."""
    raw = json.dumps([created_at.isoformat(), str(row_id)], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The ``(created_at, id)`` inside a cursor; ``ValueError`` for anything else."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, row_id = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
        at = datetime.fromisoformat(created)
        if at.tzinfo is None:
            raise ValueError("naive timestamp")
        return at, str(UUID(str(row_id)))
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ValueError("not a cursor") from None


class KeysetOptions(TypedDict, total=False):
    """How a keyset query filters and orders (column names are trusted code, never input)."""

    where: Sequence[str]
    """Filters ANDed together, each with ``%s`` placeholders matching ``params``."""
    params: Sequence[Any]
    order_column: str
    """Default ``created_at``."""
    id_column: str
    """Default ``id``: the tie-breaker."""
    descending: bool


def keyset_sql(
    select: str, page: PageRequest, **options: Unpack[KeysetOptions]
) -> tuple[str, list[Any]]:
    """``select`` + ``WHERE`` (filters AND the keyset condition) + ``ORDER BY`` + ``LIMIT n+1``.

    ``select`` has no WHERE of its own (pass filters in ``where``).
    One extra row is fetched to know whether a next page exists.
    """
    order_column = options.get("order_column", "created_at")
    id_column = options.get("id_column", "id")
    descending = options.get("descending", False)
    clauses = [f"({w})" for w in options.get("where", ())]
    args = list(options.get("params", ()))
    if page.after is not None:
        op = "<" if descending else ">"
        clauses.append(f"({order_column}, {id_column}) {op} (%s, %s)")
        args += [page.after[0], page.after[1]]
    direction = "DESC" if descending else "ASC"
    sql = select
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    sql += f" ORDER BY {order_column} {direction}, {id_column} {direction} LIMIT %s"
    args.append(page.limit + 1)
    return sql, args


def split_page(
    rows: list[Row], page: PageRequest, *, order_column: str = "created_at", id_column: str = "id"
) -> PageOf:
    """Drop the look-ahead row and make the cursor of the last row kept (None if no more)."""
    if len(rows) <= page.limit:
        return rows, None
    kept = rows[: page.limit]
    last = kept[-1]
    return kept, encode_cursor(last[order_column], last[id_column])


def fetch_page(
    conn: Conn,
    select: str,
    page: PageRequest,
    *,
    row_key: str | None = None,
    **options: Unpack[KeysetOptions],
) -> PageOf:
    """Run the keyset query: ``(rows, next_cursor)``. ``row_key`` is the order column's
    name in the rows when ``order_column`` is qualified (``i.installed_at``)."""
    sql, args = keyset_sql(select, page, **options)
    rows = conn.execute(sql, args).fetchall()
    return split_page(rows, page, order_column=row_key or options.get("order_column", "created_at"))
