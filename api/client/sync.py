"""``Client``: the blocking Python client of the HTTP API, one attribute per resource.

::

    from api.client import Client

    with Client("http://127.0.0.1:8000", token=TOKEN) as client:
        run = client.runs.start(workflow_id, {"order_id": "A-1"})   # Idempotency-Key: automatic
        for event in client.runs.stream(run.id):                      # SSE until the run ends
            print(event.sequence, event.type)
        for summary in client.runs.list(status="failed"):             # every page, lazily
            print(summary.id)

The resources are ``api.client.resources``' (shared with ``AsyncClient``); what streams is
written here.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, TypeVar

import httpx
from httpx_sse import connect_sse

from api.client import calls
from api.client import calls_tenant as more
from api.client.calls import Call, Id, Lister
from api.client.endpoints import Blocking, sends
from api.client.errors import UnreachableError, error_for
from api.client.paging import Pager
from api.client.resources import Audit, Groups, Runs
from api.client.retrying import RetryPolicy
from api.schemas.identity import LoginResponse
from api.schemas.runs import RunEventPublic, RunPublic

T = TypeVar("T")

__all__ = ["Client", "Pager"]


class BlockingRuns(Runs[Blocking]):
    _client: Client

    @sends(calls.run_event_stream)
    def stream(self, run_id: Id, after: int | None = None) -> Iterator[RunEventPublic]:
        """The run's events as they happen (SSE), ending once the run has ended and every
        event was given; a dropped stream is resumed after the last event seen."""
        return self._client.stream_events(run_id, after)

    def wait(self, run_id: Id) -> RunPublic:
        """Follow the run's events until it has ended; the run then."""
        for _ in self.stream(run_id):
            pass
        return self.get(run_id)


class BlockingAudit(Audit[Blocking]):
    _client: Client

    @sends(more.audit_export)
    def export(self) -> Iterator[str]:
        """The NDJSON export, line by line as it streams (the last line: its checkpoint)."""
        return self._client.stream_lines(more.audit_export())


class Client(Groups[Blocking]):
    """The API at ``url`` as ``token`` (a session token or an API key; ``login`` gets one).

    ``retry`` says when a request is sent again (``RetryPolicy``); ``transport``, ``verify``
    and ``timeout`` go to httpx. Errors: ``api.client.errors`` (problem+json → typed)."""

    _http: httpx.Client

    def __init__(self, url: str, token: str | None = None, *, timeout: float = 30.0,
                 retry: RetryPolicy | None = None, transport: httpx.BaseTransport | None = None,
                 verify: bool | str = True) -> None:  # fmt: skip
        self.url = url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self._http = httpx.Client(base_url=self.url, timeout=timeout, transport=transport,
                                  verify=verify)  # fmt: skip
        self.token = token
        super().__init__()
        self.runs = BlockingRuns(self)
        self.audit = BlockingAudit(self)

    @sends(more.login)
    def login(self, tenant: str, email: str, password: str) -> LoginResponse:
        """Open a session; later calls of this client use its token."""
        session = self.send(more.login(tenant, email, password))
        self.token = session.token
        return session

    @sends(more.logout)
    def logout(self) -> None:
        """End the session; the client has no token afterwards."""
        self.send(more.logout())
        self.token = None

    def send(self, call: Call[T]) -> T:
        """Send ``call`` (retried as ``self.retry`` allows) and read its answer."""
        try:
            response = self.retry.retrying(call)(self._once, call)
        except httpx.TransportError as e:
            raise UnreachableError(self.url, e) from e
        return call.parse(response)

    def pager(self, listing: Lister[T]) -> Pager[T]:
        return Pager(self, listing)

    def _once(self, call: Call[Any]) -> httpx.Response:
        response = self._http.request(call.method, call.path, **call.request_kwargs)
        if response.is_error:
            raise error_for(response)
        return response

    def stream_lines(self, call: Call[Any]) -> Iterator[str]:
        """The answer to ``call``, line by line as it arrives."""
        try:
            with self._http.stream(call.method, call.path, **call.request_kwargs) as response:
                if response.is_error:
                    response.read()
                    raise error_for(response)
                yield from response.iter_lines()
        except httpx.TransportError as e:
            raise UnreachableError(self.url, e) from e

    def stream_events(self, run_id: Id, after: int | None) -> Iterator[RunEventPublic]:
        failures = 0
        while True:
            call = calls.run_event_stream(run_id, after)
            try:
                with connect_sse(self._http, "GET", call.path, params=call.query) as source:
                    if source.response.is_error:
                        source.response.read()
                        raise error_for(source.response)
                    for sse in source.iter_sse():
                        event = RunEventPublic.model_validate_json(sse.data)
                        after, failures = event.sequence, 0
                        yield event
                return
            except httpx.TransportError as e:
                failures += 1
                if failures >= self.retry.attempts:
                    raise UnreachableError(self.url, e) from e
                time.sleep(min(self.retry.initial_wait_s * 2**failures, self.retry.max_wait_s))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
