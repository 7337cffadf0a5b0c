"""Every item of a list endpoint, page after page: ``Pager`` (blocking), ``AsyncPager``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Iterator
from typing import Any, Generic, Protocol, TypeVar

from api.client.calls import Call, Lister
from api.pagination import Page

T = TypeVar("T")


class _Sends(Protocol):
    def send(self, call: Call[Any], /) -> Any: ...


class Pager(Generic[T]):
    """Every item of a list endpoint, page after page (keyset: ``next_cursor``), fetched as
    iterated; ``pages()`` gives the pages themselves."""

    def __init__(self, client: _Sends, listing: Lister[T]) -> None:
        self._client, self._listing = client, listing

    def pages(self) -> Iterator[Page[T]]:
        cursor: str | None = None
        while True:
            page: Page[T] = self._client.send(self._listing(cursor))
            yield page
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def __iter__(self) -> Iterator[T]:
        for page in self.pages():
            yield from page.items


class AsyncPager(Generic[T]):
    """``async for item in pager``: every item, page after page; ``pages()``: the pages."""

    def __init__(self, client: _Sends, listing: Lister[T]) -> None:
        self._client, self._listing = client, listing

    async def pages(self) -> AsyncIterator[Page[T]]:
        cursor: str | None = None
        while True:
            sent: Awaitable[Page[T]] = self._client.send(self._listing(cursor))
            page = await sent
            yield page
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    async def __aiter__(self) -> AsyncIterator[T]:
        async for page in self.pages():
            for item in page.items:
                yield item
