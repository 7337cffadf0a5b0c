"""The API's endpoints as data: method, path, query, body and how to read the answer.

Both clients (``Client``, ``AsyncClient``) send these ``Call`` values; what an endpoint is
lives here once. Answers are parsed into the API's own pydantic models (``api.schemas``), so
client and server cannot drift apart. Each path keeps its route template (``Call.route``),
so the calls can be checked against the OpenAPI document.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote
from uuid import UUID

import httpx
from pydantic import BaseModel

from api.pagination import Page
from api.schemas.runs import (
    RunAccepted,
    RunEventPublic,
    RunEventsPublic,
    RunPublic,
    RunRerunAccepted,
    RunSummary,
    SignalAccepted,
)
from api.schemas.workflows import (
    ValidationResult,
    WorkflowPublic,
    WorkflowVersionPublic,
    WorkflowVersionsPublic,
)

T = TypeVar("T")
U = TypeVar("U")
M = TypeVar("M", bound=BaseModel)
Id = UUID | str
NO_BODY: Any = object()


class Path(str):
    """A request path that remembers its route template (``/v1/runs/{run_id}``)."""

    template: str


def path(template: str, **ids: Any) -> Path:
    """``template`` with each ``{name}`` filled by its id, percent-encoded as one segment."""
    filled = Path(template.format(**{k: quote(str(v), safe="") for k, v in ids.items()}))
    filled.template = template
    return filled


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request and the reading of its answer. ``replayable``: sending it again after it
    may have arrived changes nothing (a read, a delete, a run start with its
    ``Idempotency-Key``), so it is retried after a dropped connection or a 5xx too."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: Mapping[str, Any] = field(default_factory=dict)
    json: Any = NO_BODY
    content: str | bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    replayable: bool = False

    @property
    def route(self) -> str:
        """The path's route template, as the OpenAPI document names it."""
        return getattr(self.path, "template", self.path)

    @property
    def query(self) -> dict[str, str]:
        return {k: str(v).lower() if isinstance(v, bool) else str(v)
                for k, v in self.params.items() if v is not None}  # fmt: skip

    @property
    def request_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of ``httpx.Client.request`` for this call."""
        kwargs: dict[str, Any] = {"params": self.query, "headers": dict(self.headers)}
        if self.json is not NO_BODY:
            kwargs["json"] = self.json
        if self.content is not None:
            kwargs["content"] = self.content
        return kwargs

    def then(self, f: Callable[[T], U]) -> Call[U]:
        """The same request, its parsed answer passed through ``f``."""
        parse = self.parse
        return dataclasses.replace(self, parse=lambda r: f(parse(r)))  # type: ignore[return-value, arg-type]


def model(cls: type[M]) -> Callable[[httpx.Response], M]:
    return lambda r: cls.model_validate_json(r.content)


def nothing(_: httpx.Response) -> None:
    return None


def raw_json(r: httpx.Response) -> Any:
    return r.json() if r.content else None


def get(path: str, cls: type[M], **params: Any) -> Call[M]:
    return Call("GET", path, model(cls), params=params, replayable=True)


def get_json(path: str, **params: Any) -> Call[Any]:
    """A read whose answer has no model of its own in ``api.schemas``: plain JSON."""
    return Call("GET", path, raw_json, params=params, replayable=True)


def post(path: str, cls: type[M], body: Any = NO_BODY, if_match: int | None = None,
         **params: Any) -> Call[M]:  # fmt: skip
    return Call("POST", path, model(cls), params=params, json=body, headers=matching(if_match))


def write(method: str, path: str, cls: type[M], body: Any, if_match: int | None = None) -> Call[M]:
    """A ``PUT`` or ``PATCH`` of ``body``, conditional on ``if_match`` when given."""
    return Call(method, path, model(cls), json=body, headers=matching(if_match))


def delete(path: str, if_match: int | None = None) -> Call[None]:
    return Call("DELETE", path, nothing, headers=matching(if_match), replayable=True)


def matching(version: int | None) -> dict[str, str]:
    """``If-Match`` for a write based on ``version`` (the resource's ``version``/ETag)."""
    return {} if version is None else {"If-Match": f'"{version}"'}


def body(**fields: Any) -> dict[str, Any]:
    """A JSON body of the fields given (None: left out, the API's default applies)."""
    return {k: v for k, v in fields.items() if v is not None}


Lister = Callable[[str | None], Call[Page[T]]]
"""A list endpoint: the call of one page, given the previous page's ``next_cursor``."""


def lister(path: str, item: type[M], limit: int | None = None, **params: Any) -> Lister[M]:
    """The pages of ``GET path``: keyset pages followed through ``next_cursor``."""
    page = Page[item]  # type: ignore[valid-type]

    def call(cursor: str | None) -> Call[Page[M]]:
        return get(path, page, limit=limit, cursor=cursor, **params)

    return call


# ---- workflows


def workflow_create(name: str, definition: Mapping[str, Any] | str) -> Call[WorkflowPublic]:
    return post("/v1/workflows", WorkflowPublic, {"name": name, "definition": definition})


def workflow_submit(text: str, name: str | None = None) -> Call[WorkflowPublic]:
    """A definition file's text (YAML, or JSON which is YAML too) as it is: a draft."""
    return Call("POST", "/v1/workflows", model(WorkflowPublic), params={"name": name},
                content=text.encode(), headers={"Content-Type": "application/yaml"})  # fmt: skip


def workflow_validate(definition: Mapping[str, Any] | str) -> Call[ValidationResult]:
    return post("/v1/workflows/validate", ValidationResult, {"definition": definition})


def workflows(status: str | None = None, limit: int | None = None) -> Lister[WorkflowPublic]:
    return lister("/v1/workflows", WorkflowPublic, limit, status=status)


def workflow(workflow_id: Id) -> Call[WorkflowPublic]:
    return get(path("/v1/workflows/{workflow_id}", workflow_id=workflow_id), WorkflowPublic)


def workflow_versions(workflow_id: Id) -> Call[list[WorkflowVersionPublic]]:
    at = path("/v1/workflows/{workflow_id}/versions", workflow_id=workflow_id)
    return get(at, WorkflowVersionsPublic).then(lambda v: v.items)


def workflow_update(
    workflow_id: Id, definition: Mapping[str, Any] | str, if_match: int
) -> Call[WorkflowPublic]:
    """A new definition version; ``if_match``: the ``version`` it is based on."""
    at = path("/v1/workflows/{workflow_id}/definition", workflow_id=workflow_id)
    return write("PUT", at, WorkflowPublic, {"definition": definition}, if_match)


def workflow_transition(
    workflow_id: Id, action: str, if_match: int | None = None
) -> Call[WorkflowPublic]:
    """``activate``, ``pause`` or ``archive``."""
    at = path(f"/v1/workflows/{{workflow_id}}/{action}", workflow_id=workflow_id)
    return post(at, WorkflowPublic, if_match=if_match)


def workflow_activate(workflow_id: Id, if_match: int | None = None) -> Call[WorkflowPublic]:
    return workflow_transition(workflow_id, "activate", if_match)


def workflow_pause(workflow_id: Id, if_match: int | None = None) -> Call[WorkflowPublic]:
    return workflow_transition(workflow_id, "pause", if_match)


def workflow_archive(workflow_id: Id, if_match: int | None = None) -> Call[WorkflowPublic]:
    return workflow_transition(workflow_id, "archive", if_match)


def workflow_schema() -> Call[dict[str, Any]]:
    """The JSON Schema (2020-12) of a workflow definition."""
    return get_json("/v1/schemas/workflow-definition")


# ---- runs


def run_start(
    workflow_id: Id, input: Any = None, idempotency_key: str | None = None
) -> Call[RunAccepted]:
    """A run start always carries an ``Idempotency-Key`` (a fresh one unless given), so it
    can be sent again when the answer was lost: the API answers with the same run."""
    key = idempotency_key or f"client-{uuid.uuid4()}"
    at = path("/v1/workflows/{workflow_id}/runs", workflow_id=workflow_id)
    return Call("POST", at, model(RunAccepted), json={"input": input},
                headers={"Idempotency-Key": key}, replayable=True)  # fmt: skip


def runs(
    workflow_id: Id | None = None, status: str | None = None, limit: int | None = None
) -> Lister[RunSummary]:
    """Newest first."""
    return lister("/v1/runs", RunSummary, limit, workflow_id=workflow_id, status=status)


def run(run_id: Id) -> Call[RunPublic]:
    return get(path("/v1/runs/{run_id}", run_id=run_id), RunPublic)


def run_events(run_id: Id) -> Call[list[RunEventPublic]]:
    at = path("/v1/runs/{run_id}/events", run_id=run_id)
    return get(at, RunEventsPublic).then(lambda e: e.items)


def run_event_stream(run_id: Id, after: int | None = None) -> Call[None]:
    """The SSE stream of the run's events (read by the clients' ``stream``, not ``send``)."""
    at = path("/v1/runs/{run_id}/events/stream", run_id=run_id)
    return Call("GET", at, nothing, params={"after": after}, replayable=True)


def run_command(
    run_id: Id, action: str, if_match: int | None = None, **fields: Any
) -> Call[RunPublic]:
    """``cancel`` (with ``reason``), ``pause`` or ``resume``."""
    at = path(f"/v1/runs/{{run_id}}/{action}", run_id=run_id)
    return post(at, RunPublic, body(**fields) or NO_BODY, if_match)


def run_cancel(
    run_id: Id, reason: str | None = None, if_match: int | None = None
) -> Call[RunPublic]:
    return run_command(run_id, "cancel", if_match, reason=reason)


def run_pause(run_id: Id, if_match: int | None = None) -> Call[RunPublic]:
    return run_command(run_id, "pause", if_match)


def run_resume(run_id: Id, if_match: int | None = None) -> Call[RunPublic]:
    return run_command(run_id, "resume", if_match)


def run_decision(
    run_id: Id,
    step_id: str,
    decision: str,
    comment: str | None = None,
    index: int | None = None,
    if_match: int | None = None,
) -> Call[RunPublic]:
    """``approve`` or ``reject`` a waiting ``approval`` step (``index``: a foreach item)."""
    at = path(f"/v1/runs/{{run_id}}/steps/{{step_id}}/{decision}", run_id=run_id,
              step_id=step_id)  # fmt: skip
    return post(at, RunPublic, {"comment": comment}, if_match, index=index)


def run_approve(run_id: Id, step_id: str, comment: str | None = None, index: int | None = None,
                if_match: int | None = None) -> Call[RunPublic]:  # fmt: skip
    return run_decision(run_id, step_id, "approve", comment, index, if_match)


def run_reject(run_id: Id, step_id: str, comment: str | None = None, index: int | None = None,
               if_match: int | None = None) -> Call[RunPublic]:  # fmt: skip
    return run_decision(run_id, step_id, "reject", comment, index, if_match)


def run_signal(run_id: Id, name: str, payload: Any = None) -> Call[SignalAccepted]:
    at = path("/v1/runs/{run_id}/signals/{name}", run_id=run_id, name=name)
    return post(at, SignalAccepted, payload)


def run_rerun(
    run_id: Id, from_step: str | None = None, input: Any = None
) -> Call[RunRerunAccepted]:
    at = path("/v1/runs/{run_id}/rerun", run_id=run_id)
    return post(at, RunRerunAccepted, body(from_step=from_step, input=input))
