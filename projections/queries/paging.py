"""Keyset pagination over the read model: the cursor's format and the paged query."""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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


CURSOR_LENGTH = 32
CURSOR_PATTERN = rf"^[A-Za-z0-9_-]{{{CURSOR_LENGTH}}}$"
"""A cursor's form: 32 base64url characters, no padding (24 bytes). Every string of this form
is a position (``decode_cursor``); nothing else is one."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FIRST_US = (datetime.min.replace(tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1)
_LAST_US = (datetime.max.replace(tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1)


def encode_cursor(created_at: datetime, row_id: UUID | str) -> str:
    """An opaque cursor: base64url of ``created_at`` (signed 64-bit microseconds since the Unix
    epoch, big-endian) followed by the row id's 16 bytes: always ``CURSOR_LENGTH`` characters."""
    micros = (created_at - _EPOCH) // timedelta(microseconds=1)
    raw = micros.to_bytes(8, "big", signed=True) + UUID(str(row_id)).bytes
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The ``(created_at, id)`` a cursor stands for; ``ValueError`` unless it has the form of
    ``CURSOR_PATTERN``. Every string of that form stands for a position, so a cursor a client
    made up is a page too (a time beyond what ``datetime`` holds is taken as its first or last
    instant): the form is the whole contract, as the OpenAPI document says."""
    if len(cursor) != CURSOR_LENGTH or not _CURSOR.fullmatch(cursor):
        raise ValueError("not a cursor")
    raw = base64.urlsafe_b64decode(cursor.encode() + b"==")
    micros = min(max(int.from_bytes(raw[:8], "big", signed=True), _FIRST_US), _LAST_US)
    return _EPOCH + timedelta(microseconds=micros), str(UUID(bytes=raw[8:]))


_CURSOR = re.compile(CURSOR_PATTERN.strip("^$"))


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
