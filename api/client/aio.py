"""``AsyncClient``: the asyncio twin of ``Client``, with the same resources and methods.

The resources are the same classes (``api.client.resources``) in the ``Awaiting`` mode: the
same ``Call`` values, sent with ``httpx.AsyncClient`` and retried by tenacity's
``AsyncRetrying`` under the same ``RetryPolicy``; what streams is written here::

    async with AsyncClient(url, token=TOKEN) as client:
        run = await client.runs.start(workflow_id, {"n": 1})
        async for event in client.runs.stream(run.id):
            ...
        async for user in client.users.list():
            ...
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import httpx
from httpx_sse import aconnect_sse

from api.client import calls
from api.client import calls_tenant as more
from api.client.calls import Call, Id, Lister
from api.client.endpoints import Awaiting, sends
from api.client.errors import UnreachableError, error_for
from api.client.paging import AsyncPager
from api.client.resources import Audit, Groups, Runs
from api.client.retrying import RetryPolicy
from api.schemas.identity import LoginResponse
from api.schemas.runs import RunEventPublic, RunPublic

T = TypeVar("T")

__all__ = ["AsyncClient", "AsyncPager"]


class AsyncRuns(Runs[Awaiting]):
    _client: AsyncClient

    @sends(calls.run_event_stream)
    def stream(self, run_id: Id, after: int | None = None) -> AsyncIterator[RunEventPublic]:
        """``async for``: the run's events as they happen, until it has ended."""
        return self._client.stream_events(run_id, after)

    async def wait(self, run_id: Id) -> RunPublic:
        async for _ in self.stream(run_id):
            pass
        return await self.get(run_id)


class AsyncAudit(Audit[Awaiting]):
    _client: AsyncClient

    @sends(more.audit_export)
    def export(self) -> AsyncIterator[str]:
        """``async for``: the NDJSON export, line by line as it streams."""
        return self._client.stream_lines(more.audit_export())


class AsyncClient(Groups[Awaiting]):
    """``Client``'s twin (same arguments) for asyncio code; ``async with`` closes it."""

    _http: httpx.AsyncClient

    def __init__(self, url: str, token: str | None = None, *, timeout: float = 30.0,
                 retry: RetryPolicy | None = None,
                 transport: httpx.AsyncBaseTransport | None = None,
                 verify: bool | str = True) -> None:  # fmt: skip
        self.url = url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self._http = httpx.AsyncClient(base_url=self.url, timeout=timeout, transport=transport,
                                       verify=verify)  # fmt: skip
        self.token = token
        super().__init__()
        self.runs = AsyncRuns(self)
        self.audit = AsyncAudit(self)

    @sends(more.login)
    async def login(self, tenant: str, email: str, password: str) -> LoginResponse:
        session = await self.send(more.login(tenant, email, password))
        self.token = session.token
        return session

    @sends(more.logout)
    async def logout(self) -> None:
        await self.send(more.logout())
        self.token = None

    async def send(self, call: Call[T]) -> T:
        try:
            response: httpx.Response = await self.retry.async_retrying(call)(self._once, call)
        except httpx.TransportError as e:
            raise UnreachableError(self.url, e) from e
        return call.parse(response)

    def pager(self, listing: Lister[T]) -> AsyncPager[T]:
        return AsyncPager(self, listing)

    async def _once(self, call: Call[Any]) -> httpx.Response:
        response = await self._http.request(call.method, call.path, **call.request_kwargs)
        if response.is_error:
            raise error_for(response)
        return response

    async def stream_lines(self, call: Call[Any]) -> AsyncIterator[str]:
        try:
            async with self._http.stream(call.method, call.path, **call.request_kwargs) as answer:
                if answer.is_error:
                    await answer.aread()
                    raise error_for(answer)
                async for line in answer.aiter_lines():
                    yield line
        except httpx.TransportError as e:
            raise UnreachableError(self.url, e) from e

    async def stream_events(self, run_id: Id, after: int | None) -> AsyncIterator[RunEventPublic]:
        failures = 0
        while True:
            call = calls.run_event_stream(run_id, after)
            try:
                async with aconnect_sse(self._http, "GET", call.path, params=call.query) as source:
                    if source.response.is_error:
                        await source.response.aread()
                        raise error_for(source.response)
                    async for sse in source.aiter_sse():
                        event = RunEventPublic.model_validate_json(sse.data)
                        after, failures = event.sequence, 0
                        yield event
                return
            except httpx.TransportError as e:
                failures += 1
                if failures >= self.retry.attempts:
                    raise UnreachableError(self.url, e) from e
                await asyncio.sleep(
                    min(self.retry.initial_wait_s * 2**failures, self.retry.max_wait_s)
                )

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()
