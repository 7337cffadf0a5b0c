"""``AsyncClient``: the asyncio twin of ``Client`` for workflows, runs, triggers and identity.

The endpoints are the same ``Call`` values (``calls.py``), sent with ``httpx.AsyncClient`` and
retried by tenacity's ``AsyncRetrying`` under the same ``RetryPolicy``::

    async with AsyncClient(url, token=TOKEN) as client:
        run = await client.runs.start(workflow_id, {"n": 1})
        async for event in client.runs.stream(run.id):
            ...
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncIterator, Mapping
from typing import Any, Generic, TypeVar

import httpx
from httpx_sse import aconnect_sse

from api.client import calls
from api.client import calls_tenant as more
from api.client.calls import Call, Id, Lister
from api.client.errors import UnreachableError, error_for
from api.client.retrying import RetryPolicy
from api.pagination import Page
from api.schemas.identity import LoginResponse, MePublic
from api.schemas.runs import (
    RunAccepted,
    RunEventPublic,
    RunPublic,
    RunRerunAccepted,
    RunSummary,
    SignalAccepted,
)
from api.schemas.triggers import HookCreated, SchedulePublic
from api.schemas.workflows import WorkflowPublic, WorkflowVersionPublic

T = TypeVar("T")


class AsyncPager(Generic[T]):
    """``async for item in pager``: every item, page after page; ``pages()``: the pages."""

    def __init__(self, client: AsyncClient, listing: Lister[T]) -> None:
        self._client, self._listing = client, listing

    async def pages(self) -> AsyncIterator[Page[T]]:
        cursor: str | None = None
        while True:
            page = await self._client.send(self._listing(cursor))
            yield page
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    async def __aiter__(self) -> AsyncIterator[T]:
        async for page in self.pages():
            for item in page.items:
                yield item


class _Resource:
    def __init__(self, client: AsyncClient) -> None:
        self._c = client


class AsyncWorkflows(_Resource):
    async def create(self, name: str, definition: Mapping[str, Any] | str) -> WorkflowPublic:
        return await self._c.send(calls.workflow_create(name, definition))

    async def submit(self, text: str, name: str | None = None) -> WorkflowPublic:
        return await self._c.send(calls.workflow_submit(text, name))

    def list(self, status: str | None = None,
             limit: int | None = None) -> AsyncPager[WorkflowPublic]:  # fmt: skip
        return AsyncPager(self._c, calls.workflows(status, limit))

    async def get(self, workflow_id: Id) -> WorkflowPublic:
        return await self._c.send(calls.workflow(workflow_id))

    async def versions(self, workflow_id: Id) -> builtins.list[WorkflowVersionPublic]:
        return (await self._c.send(calls.workflow_versions(workflow_id))).items

    async def activate(self, workflow_id: Id, if_match: int | None = None) -> WorkflowPublic:
        return await self._c.send(calls.workflow_transition(workflow_id, "activate", if_match))

    async def pause(self, workflow_id: Id, if_match: int | None = None) -> WorkflowPublic:
        return await self._c.send(calls.workflow_transition(workflow_id, "pause", if_match))

    async def archive(self, workflow_id: Id, if_match: int | None = None) -> WorkflowPublic:
        return await self._c.send(calls.workflow_transition(workflow_id, "archive", if_match))


class AsyncRuns(_Resource):
    async def start(self, workflow_id: Id, input: Any = None,
                    idempotency_key: str | None = None) -> RunAccepted:  # fmt: skip
        return await self._c.send(calls.run_start(workflow_id, input, idempotency_key))

    def list(self, workflow_id: Id | None = None, status: str | None = None,
             limit: int | None = None) -> AsyncPager[RunSummary]:  # fmt: skip
        return AsyncPager(self._c, calls.runs(workflow_id, status, limit))

    async def get(self, run_id: Id) -> RunPublic:
        return await self._c.send(calls.run(run_id))

    async def events(self, run_id: Id) -> builtins.list[RunEventPublic]:
        return (await self._c.send(calls.run_events(run_id))).items

    def stream(self, run_id: Id, after: int | None = None) -> AsyncIterator[RunEventPublic]:
        return self._c.stream_events(run_id, after)

    async def wait(self, run_id: Id) -> RunPublic:
        async for _ in self.stream(run_id):
            pass
        return await self.get(run_id)

    async def cancel(self, run_id: Id, reason: str | None = None,
                     if_match: int | None = None) -> RunPublic:  # fmt: skip
        return await self._c.send(calls.run_command(run_id, "cancel", if_match, reason=reason))

    async def approve(self, run_id: Id, step_id: str, comment: str | None = None,
                      index: int | None = None) -> RunPublic:  # fmt: skip
        return await self._c.send(calls.run_decision(run_id, step_id, "approve", comment, index))

    async def reject(self, run_id: Id, step_id: str, comment: str | None = None,
                     index: int | None = None) -> RunPublic:  # fmt: skip
        return await self._c.send(calls.run_decision(run_id, step_id, "reject", comment, index))

    async def signal(self, run_id: Id, name: str, payload: Any = None) -> SignalAccepted:
        return await self._c.send(calls.run_signal(run_id, name, payload))

    async def rerun(self, run_id: Id, from_step: str | None = None,
                    input: Any = None) -> RunRerunAccepted:  # fmt: skip
        return await self._c.send(calls.run_rerun(run_id, from_step, input))


class AsyncTriggers(_Resource):
    """Schedules and hooks: ``client.triggers.schedule(...)``, ``client.triggers.hook(...)``."""

    async def schedule(self, workflow_id: Id, cron: str, **fields: Any) -> SchedulePublic:
        return await self._c.send(more.schedule_create(workflow_id, cron, **fields))

    async def hook(self, workflow_id: Id, mapping: str | None = None) -> HookCreated:
        return await self._c.send(more.hook_create(workflow_id, mapping))


class AsyncClient:
    """``Client``'s twin (same arguments) for asyncio code; ``async with`` closes it."""

    def __init__(self, url: str, token: str | None = None, *, timeout: float = 30.0,
                 retry: RetryPolicy | None = None,
                 transport: httpx.AsyncBaseTransport | None = None,
                 verify: bool | str = True) -> None:  # fmt: skip
        self.url = url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self._http = httpx.AsyncClient(base_url=self.url, timeout=timeout, transport=transport,
                                       verify=verify)  # fmt: skip
        self.token = token
        self.workflows, self.runs = AsyncWorkflows(self), AsyncRuns(self)
        self.triggers = AsyncTriggers(self)

    @property
    def token(self) -> str | None:
        return self._token

    @token.setter
    def token(self, value: str | None) -> None:
        self._token = value
        self._http.headers.pop("Authorization", None)
        if value:
            self._http.headers["Authorization"] = f"Bearer {value}"

    async def login(self, tenant: str, email: str, password: str) -> LoginResponse:
        session = await self.send(more.login(tenant, email, password))
        self.token = session.token
        return session

    async def me(self) -> MePublic:
        return await self.send(more.me())

    async def send(self, call: Call[T]) -> T:
        try:
            response: httpx.Response = await self.retry.async_retrying(call)(self._once, call)
        except httpx.TransportError as e:
            raise UnreachableError(self.url, e) from e
        return call.parse(response)

    async def _once(self, call: Call[Any]) -> httpx.Response:
        response = await self._http.request(call.method, call.path, **call.request_kwargs)
        if response.is_error:
            raise error_for(response)
        return response

    async def stream_events(self, run_id: Id, after: int | None) -> AsyncIterator[RunEventPublic]:
        path, failures = f"/v1/runs/{run_id}/events/stream", 0
        while True:
            params = {} if after is None else {"after": after}
            try:
                async with aconnect_sse(self._http, "GET", path, params=params) as source:
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
