"""``Client``: the blocking Python client of the HTTP API, one attribute per resource.

::

    from api.client import Client

    with Client("http://127.0.0.1:8000", token=TOKEN) as client:
        run = client.runs.start(workflow_id, {"order_id": "A-1"})   # Idempotency-Key: automatic
        for event in client.runs.stream(run.id):                      # SSE until the run ends
            print(event.sequence, event.type)
        for summary in client.runs.list(status="failed"):             # every page, lazily
            print(summary.id)
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Iterator, Mapping
from typing import Any, Generic, TypeVar

import httpx
from httpx_sse import connect_sse

from api.client import calls
from api.client import calls_tenant as more
from api.client.calls import Call, Id, Lister
from api.client.errors import UnreachableError, error_for
from api.client.retrying import RetryPolicy
from api.pagination import Page
from api.schemas.audit import (
    AuditEventPublic,
    CheckpointPublic,
    HistoryPublic,
    PublicKeyPublic,
    StatePublic,
    VerifyPublic,
)
from api.schemas.identity import (
    ApiKeyCreated,
    ApiKeyPublic,
    LoginResponse,
    MePublic,
    TenantCreated,
    TenantPublic,
)
from api.schemas.runs import (
    RunAccepted,
    RunEventPublic,
    RunPublic,
    RunRerunAccepted,
    RunSummary,
    SignalAccepted,
)
from api.schemas.triggers import HookCreated, HookPublic, SchedulePublic
from api.schemas.workflows import ValidationResult, WorkflowPublic, WorkflowVersionPublic

T = TypeVar("T")
ENDED = ("succeeded", "failed", "cancelled")


class Pager(Generic[T]):
    """Every item of a list endpoint, page after page (keyset: ``next_cursor``), fetched as
    iterated; ``pages()`` gives the pages themselves."""

    def __init__(self, client: Client, listing: Lister[T]) -> None:
        self._client, self._listing = client, listing

    def pages(self) -> Iterator[Page[T]]:
        cursor: str | None = None
        while True:
            page = self._client.send(self._listing(cursor))
            yield page
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def __iter__(self) -> Iterator[T]:
        for page in self.pages():
            yield from page.items


class _Resource:
    def __init__(self, client: Client) -> None:
        self._c = client


class Workflows(_Resource):
    def create(self, name: str, definition: Mapping[str, Any] | str) -> WorkflowPublic:
        return self._c.send(calls.workflow_create(name, definition))

    def submit(self, text: str, name: str | None = None) -> WorkflowPublic:
        """A definition file's YAML or JSON text, sent as it is (a draft, version 1)."""
        return self._c.send(calls.workflow_submit(text, name))

    def validate(self, definition: Mapping[str, Any] | str) -> ValidationResult:
        return self._c.send(calls.workflow_validate(definition))

    def list(self, status: str | None = None, limit: int | None = None) -> Pager[WorkflowPublic]:
        return Pager(self._c, calls.workflows(status, limit))

    def get(self, workflow_id: Id) -> WorkflowPublic:
        return self._c.send(calls.workflow(workflow_id))

    def versions(self, workflow_id: Id) -> builtins.list[WorkflowVersionPublic]:
        return self._c.send(calls.workflow_versions(workflow_id)).items

    def update(
        self, workflow_id: Id, definition: Mapping[str, Any] | str, if_match: int
    ) -> WorkflowPublic:
        """A new definition version; ``if_match``: the ``version`` it is based on."""
        return self._c.send(calls.workflow_update(workflow_id, definition, if_match))

    def activate(self, workflow_id: Id, if_match: int | None = None) -> WorkflowPublic:
        return self._c.send(calls.workflow_transition(workflow_id, "activate", if_match))

    def pause(self, workflow_id: Id, if_match: int | None = None) -> WorkflowPublic:
        return self._c.send(calls.workflow_transition(workflow_id, "pause", if_match))

    def archive(self, workflow_id: Id, if_match: int | None = None) -> WorkflowPublic:
        return self._c.send(calls.workflow_transition(workflow_id, "archive", if_match))


class Runs(_Resource):
    def start(
        self, workflow_id: Id, input: Any = None, idempotency_key: str | None = None
    ) -> RunAccepted:
        """Start a run; with no ``idempotency_key`` a fresh one is made, so the retries of a
        lost answer find the same run instead of starting another."""
        return self._c.send(calls.run_start(workflow_id, input, idempotency_key))

    def list(self, workflow_id: Id | None = None, status: str | None = None,
             limit: int | None = None) -> Pager[RunSummary]:  # fmt: skip
        """Newest first, every page."""
        return Pager(self._c, calls.runs(workflow_id, status, limit))

    def get(self, run_id: Id) -> RunPublic:
        return self._c.send(calls.run(run_id))

    def events(self, run_id: Id) -> builtins.list[RunEventPublic]:
        return self._c.send(calls.run_events(run_id)).items

    def stream(self, run_id: Id, after: int | None = None) -> Iterator[RunEventPublic]:
        """The run's events as they happen (SSE), ending once the run has ended and every
        event was given; a dropped stream is resumed after the last event seen."""
        return self._c.stream_events(run_id, after)

    def wait(self, run_id: Id) -> RunPublic:
        """Follow the run's events until it has ended; the run then."""
        for _ in self.stream(run_id):
            pass
        return self.get(run_id)

    def cancel(self, run_id: Id, reason: str | None = None,
               if_match: int | None = None) -> RunPublic:  # fmt: skip
        return self._c.send(calls.run_command(run_id, "cancel", if_match, reason=reason))

    def pause(self, run_id: Id, if_match: int | None = None) -> RunPublic:
        return self._c.send(calls.run_command(run_id, "pause", if_match))

    def resume(self, run_id: Id, if_match: int | None = None) -> RunPublic:
        return self._c.send(calls.run_command(run_id, "resume", if_match))

    def approve(self, run_id: Id, step_id: str, comment: str | None = None,
                index: int | None = None, if_match: int | None = None) -> RunPublic:  # fmt: skip
        return self._c.send(calls.run_decision(run_id, step_id, "approve", comment, index,
                                               if_match))  # fmt: skip

    def reject(self, run_id: Id, step_id: str, comment: str | None = None,
               index: int | None = None, if_match: int | None = None) -> RunPublic:  # fmt: skip
        return self._c.send(calls.run_decision(run_id, step_id, "reject", comment, index,
                                               if_match))  # fmt: skip

    def signal(self, run_id: Id, name: str, payload: Any = None) -> SignalAccepted:
        return self._c.send(calls.run_signal(run_id, name, payload))

    def rerun(self, run_id: Id, from_step: str | None = None,
              input: Any = None) -> RunRerunAccepted:  # fmt: skip
        return self._c.send(calls.run_rerun(run_id, from_step, input))


class Schedules(_Resource):
    def create(self, workflow_id: Id, cron: str, **fields: Any) -> SchedulePublic:
        """``timezone``, ``input``, ``overlap``, ``catchup``: as the API takes them."""
        return self._c.send(more.schedule_create(workflow_id, cron, **fields))

    def list(self, workflow_id: Id, limit: int | None = None) -> Pager[SchedulePublic]:
        return Pager(self._c, more.schedules(workflow_id, limit))

    def get(self, schedule_id: Id) -> SchedulePublic:
        return self._c.send(more.schedule(schedule_id))

    def update(self, schedule_id: Id, if_match: int | None = None,
               **fields: Any) -> SchedulePublic:  # fmt: skip
        return self._c.send(more.schedule_update(schedule_id, if_match, **fields))

    def pause(self, schedule_id: Id) -> SchedulePublic:
        return self.update(schedule_id, status="paused")

    def resume(self, schedule_id: Id) -> SchedulePublic:
        return self.update(schedule_id, status="active")

    def delete(self, schedule_id: Id) -> None:
        self._c.send(more.schedule_delete(schedule_id))


class Hooks(_Resource):
    def create(self, workflow_id: Id, mapping: str | None = None) -> HookCreated:
        """The answer carries the hook's ``secret``: shown this once."""
        return self._c.send(more.hook_create(workflow_id, mapping))

    def list(self, workflow_id: Id, limit: int | None = None) -> Pager[HookPublic]:
        return Pager(self._c, more.hooks(workflow_id, limit))

    def delete(self, hook_id: Id) -> None:
        self._c.send(more.hook_delete(hook_id))


class Audit(_Resource):
    def events(self, limit: int | None = None, **filters: Any) -> Pager[AuditEventPublic]:
        return Pager(self._c, more.audit_events(limit, **filters))

    def verify(self) -> VerifyPublic:
        return self._c.send(more.audit_verify())

    def export(self) -> Iterator[str]:
        """The NDJSON export, line by line as it streams (the last line: its checkpoint)."""
        return self._c.stream_lines("/v1/audit/export")

    def checkpoints(self, from_size: int | None = None,
                    to_size: int | None = None) -> builtins.list[CheckpointPublic]:  # fmt: skip
        return self._c.send(more.audit_checkpoints(from_size, to_size)).checkpoints

    def checkpoint(self) -> CheckpointPublic:
        """Sign the tenant's audit tree now."""
        return self._c.send(more.audit_checkpoint())

    def public_keys(self) -> builtins.list[PublicKeyPublic]:
        return self._c.send(more.audit_public_keys()).keys

    def history(self, resource_type: str, resource_id: Id) -> HistoryPublic:
        return self._c.send(more.history(resource_type, resource_id))

    def state_as_of(self, resource_type: str, resource_id: Id, as_of: int | str) -> StatePublic:
        return self._c.send(more.state_as_of(resource_type, resource_id, as_of))


class ApiKeys(_Resource):
    def create(self, name: str, role: str = "user") -> ApiKeyCreated:
        """The answer carries the key's ``secret``: shown this once."""
        return self._c.send(more.api_key_create(name, role))

    def list(self, limit: int | None = None) -> Pager[ApiKeyPublic]:
        return Pager(self._c, more.api_keys(limit))

    def delete(self, key_id: Id) -> None:
        self._c.send(more.api_key_delete(key_id))


class Tenants(_Resource):
    """The platform admin's (its deploy-time token)."""

    def create(self, name: str, slug: str, admin_email: str, admin_password: str,
               **fields: Any) -> TenantCreated:  # fmt: skip
        return self._c.send(more.tenant_create(name, slug, admin_email, admin_password, **fields))

    def get(self, tenant_id: Id) -> TenantPublic:
        return self._c.send(more.tenant(tenant_id))


class Client:
    """The API at ``url`` as ``token`` (a session token or an API key; ``login`` gets one).

    ``retry`` says when a request is sent again (``RetryPolicy``); ``transport``, ``verify``
    and ``timeout`` go to httpx. Errors: ``api.client.errors`` (problem+json → typed)."""

    def __init__(self, url: str, token: str | None = None, *, timeout: float = 30.0,
                 retry: RetryPolicy | None = None, transport: httpx.BaseTransport | None = None,
                 verify: bool | str = True) -> None:  # fmt: skip
        self.url = url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self._http = httpx.Client(base_url=self.url, timeout=timeout, transport=transport,
                                  verify=verify)  # fmt: skip
        self.token = token
        self.workflows, self.runs = Workflows(self), Runs(self)
        self.schedules, self.hooks = Schedules(self), Hooks(self)
        self.audit, self.api_keys, self.tenants = Audit(self), ApiKeys(self), Tenants(self)

    @property
    def token(self) -> str | None:
        return self._token

    @token.setter
    def token(self, value: str | None) -> None:
        self._token = value
        self._http.headers.pop("Authorization", None)
        if value:
            self._http.headers["Authorization"] = f"Bearer {value}"

    def login(self, tenant: str, email: str, password: str) -> LoginResponse:
        """Open a session; later calls of this client use its token."""
        session = self.send(more.login(tenant, email, password))
        self.token = session.token
        return session

    def logout(self) -> None:
        self.send(more.logout())
        self.token = None

    def me(self) -> MePublic:
        return self.send(more.me())

    def send(self, call: Call[T]) -> T:
        """Send ``call`` (retried as ``self.retry`` allows) and read its answer."""
        try:
            response = self.retry.retrying(call)(self._once, call)
        except httpx.TransportError as e:
            raise UnreachableError(self.url, e) from e
        return call.parse(response)

    def _once(self, call: Call[Any]) -> httpx.Response:
        response = self._http.request(call.method, call.path, **call.request_kwargs)
        if response.is_error:
            raise error_for(response)
        return response

    def stream_lines(self, path: str) -> Iterator[str]:
        try:
            with self._http.stream("GET", path) as response:
                if response.is_error:
                    response.read()
                    raise error_for(response)
                yield from response.iter_lines()
        except httpx.TransportError as e:
            raise UnreachableError(self.url, e) from e

    def stream_events(self, run_id: Id, after: int | None) -> Iterator[RunEventPublic]:
        path, failures = f"/v1/runs/{run_id}/events/stream", 0
        while True:
            params = {} if after is None else {"after": after}
            try:
                with connect_sse(self._http, "GET", path, params=params) as source:
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
