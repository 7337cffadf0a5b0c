"""Keyset pagination shared by every list endpoint.

``?limit=`` (default 50, max 500) and an opaque ``cursor``: base64url of the last row's
``(created_at, id)``; the response is ``{items, next_cursor}`` (``next_cursor`` null on the
last page). Keyset, not OFFSET: pages stay stable while rows are added, and every list table
has an index on ``(tenant_id, created_at, id)``.

Typical use in a route::

    @router.get("", response_model=Page[UserPublic])
    def list_users(page: PageDep, principal: ..., container: ContainerDep) -> Page[UserPublic]:
        with tenant_tx(container.read_pool, principal.tenant_id) as conn:
            rows, next_cursor = fetch_page(
                conn, "SELECT * FROM users", page, where=["status = %s"], params=["active"]
            )
        return Page(items=[UserPublic(**r) for r in rows], next_cursor=next_cursor)
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar
from uuid import UUID

from fastapi import Depends, Query
from pydantic import BaseModel

from api.errors import ProblemError

DEFAULT_LIMIT = 50
MAX_LIMIT = 500

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list: ``{items, next_cursor}``."""

    items: list[T]
    next_cursor: str | None = None


@dataclass(frozen=True)
class PageRequest:
    """What the client asked for: how many rows, and after which ``(created_at, id)``."""

    limit: int = DEFAULT_LIMIT
    after: tuple[datetime, str] | None = None


def encode_cursor(created_at: datetime, row_id: UUID | str) -> str:
    raw = json.dumps([created_at.isoformat(), str(row_id)], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _bad_cursor() -> ProblemError:
    return ProblemError(
        422,
        "The cursor is not one this API issued.",
        errors=[{"pointer": "#query/cursor", "message": "invalid cursor"}],
    )


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The ``(created_at, id)`` inside a cursor; anything else is a 422 on ``cursor``."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, row_id = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
        at = datetime.fromisoformat(created)
        if at.tzinfo is None:
            raise ValueError("naive timestamp")
        return at, str(UUID(str(row_id)))
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise _bad_cursor() from None


def page_params(
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description=f"Page size, 1 to {MAX_LIMIT}.")
    ] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None, Query(max_length=512, description="`next_cursor` of the previous page.")
    ] = None,
) -> PageRequest:
    """The ``limit`` and ``cursor`` query parameters of a list endpoint."""
    return PageRequest(limit=limit, after=decode_cursor(cursor) if cursor else None)


PageDep = Annotated[PageRequest, Depends(page_params)]


def keyset_sql(
    select: str,
    page: PageRequest,
    *,
    where: Sequence[str] = (),
    params: Sequence[Any] = (),
    order_column: str = "created_at",
    id_column: str = "id",
    descending: bool = False,
) -> tuple[str, list[Any]]:
    """``select`` + ``WHERE`` (filters AND the keyset condition) + ``ORDER BY`` + ``LIMIT n+1``.

    ``select`` has no WHERE of its own (pass filters in ``where``, each with ``%s``
    placeholders matching ``params``); column names are trusted code, never user input.
    One extra row is fetched to know whether a next page exists.
    """
    clauses = [f"({w})" for w in where]
    args = list(params)
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
    rows: list[dict[str, Any]],
    page: PageRequest,
    *,
    order_column: str = "created_at",
    id_column: str = "id",
) -> tuple[list[dict[str, Any]], str | None]:
    """Drop the look-ahead row and make the cursor of the last row kept (None if no more)."""
    if len(rows) <= page.limit:
        return rows, None
    kept = rows[: page.limit]
    last = kept[-1]
    return kept, encode_cursor(last[order_column], last[id_column])


def fetch_page(
    conn: Any,
    select: str,
    page: PageRequest,
    *,
    where: Sequence[str] = (),
    params: Sequence[Any] = (),
    order_column: str = "created_at",
    id_column: str = "id",
    descending: bool = False,
) -> tuple[list[dict[str, Any]], str | None]:
    """Run the keyset query on a dict-row connection: ``(rows, next_cursor)``."""
    sql, args = keyset_sql(
        select,
        page,
        where=where,
        params=params,
        order_column=order_column,
        id_column=id_column,
        descending=descending,
    )
    rows = conn.execute(sql, args).fetchall()
    return split_page(rows, page, order_column=order_column, id_column=id_column)
