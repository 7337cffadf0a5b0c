"""Keyset pagination of every list endpoint: the query parameters and the page's shape.

``?limit=`` (default 50, max 500) and an opaque ``cursor``: 32 base64url characters holding the
last row's ``(created_at, id)`` (``paging.CURSOR_PATTERN``: the document states the form, and
every string of that form is a position, so no cursor the schema allows is refused); the
response is ``{items, next_cursor}`` (``next_cursor`` null on the last page). Keyset, not
OFFSET: pages stay stable while rows are added, and every list table has an index on
``(tenant_id, created_at, id)``. The paged queries themselves are
``projections/queries/paging.py``'s; a route passes the ``PageRequest`` on::

    @router.get("", response_model=Page[UserPublic])
    def list_users(page: PageDep, principal: ..., container: ContainerDep) -> Page[UserPublic]:
        with tenant_tx(container.read_pool, principal.tenant_id) as conn:
            rows, next_cursor = users.list_users(conn, page)
        return Page(items=[UserPublic(**r) for r in rows], next_cursor=next_cursor)
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel

from api.errors import ProblemError
from projections.queries import paging
from projections.queries.paging import CURSOR_PATTERN, DEFAULT_LIMIT, PageRequest

MAX_LIMIT = 500

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list: ``{items, next_cursor}``."""

    items: list[T]
    next_cursor: str | None = None


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The ``(created_at, id)`` a cursor stands for; one not of its form is a 422 on
    ``cursor`` (the console's pages, which FastAPI does not check against the pattern)."""
    try:
        return paging.decode_cursor(cursor)
    except ValueError:
        raise ProblemError(
            422,
            "The cursor is not one this API issued.",
            errors=[{"pointer": "#query/cursor", "message": "invalid cursor"}],
        ) from None


def page_params(
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description=f"Page size, 1 to {MAX_LIMIT}.")
    ] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None,
        Query(
            pattern=CURSOR_PATTERN,
            description="`next_cursor` of the previous page (32 base64url characters).",
        ),
    ] = None,
) -> PageRequest:
    """The ``limit`` and ``cursor`` query parameters of a list endpoint."""
    return PageRequest(limit=limit, after=decode_cursor(cursor) if cursor else None)


PageDep = Annotated[PageRequest, Depends(page_params)]
