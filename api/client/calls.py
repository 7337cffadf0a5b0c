"""The API's endpoints as data: method, path, query, body and how to read the answer.

Both clients (``Client``, ``AsyncClient``) send these ``Call`` values; what an endpoint is
lives here once. Answers are parsed into the API's own pydantic models (``api.schemas``), so
client and server cannot drift apart.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from uuid import UUID

import httpx
from pydantic import BaseModel

from api.pagination import Page
from api.schemas.runs import (
    RunAccepted,
    RunEventsPublic,
    RunPublic,
    RunRerunAccepted,
    RunSummary,
    SignalAccepted,
)
from api.schemas.workflows import (
    ValidationResult,
    WorkflowPublic,
    WorkflowVersionsPublic,
)

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
Id = UUID | str
NO_BODY: Any = object()


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
    def request_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of ``httpx.Client.request`` for this call."""
        kwargs: dict[str, Any] = {
            "params": {k: str(v) for k, v in self.params.items() if v is not None},
            "headers": dict(self.headers),
        }
        if self.json is not NO_BODY:
            kwargs["json"] = self.json
        if self.content is not None:
            kwargs["content"] = self.content
        return kwargs


def model(cls: type[M]) -> Callable[[httpx.Response], M]:
    return lambda r: cls.model_validate_json(r.content)


def nothing(_: httpx.Response) -> None:
    return None


def raw_json(r: httpx.Response) -> Any:
    return r.json() if r.content else None


def get(path: str, cls: type[M], **params: Any) -> Call[M]:
    return Call("GET", path, model(cls), params=params, replayable=True)


def post(path: str, cls: type[M], body: Any = NO_BODY, if_match: int | None = None,
         **params: Any) -> Call[M]:  # fmt: skip
    return Call("POST", path, model(cls), params=params, json=body, headers=matching(if_match))


def delete(path: str) -> Call[None]:
    return Call("DELETE", path, nothing, replayable=True)


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
    return get(f"/v1/workflows/{workflow_id}", WorkflowPublic)


def workflow_versions(workflow_id: Id) -> Call[WorkflowVersionsPublic]:
    return get(f"/v1/workflows/{workflow_id}/versions", WorkflowVersionsPublic)


def workflow_update(
    workflow_id: Id, definition: Mapping[str, Any] | str, if_match: int
) -> Call[WorkflowPublic]:
    return Call("PUT", f"/v1/workflows/{workflow_id}/definition", model(WorkflowPublic),
                json={"definition": definition}, headers=matching(if_match))  # fmt: skip


def workflow_transition(
    workflow_id: Id, action: str, if_match: int | None = None
) -> Call[WorkflowPublic]:
    """``activate``, ``pause`` or ``archive``."""
    return post(f"/v1/workflows/{workflow_id}/{action}", WorkflowPublic, if_match=if_match)


# ---- runs


def run_start(
    workflow_id: Id, input: Any = None, idempotency_key: str | None = None
) -> Call[RunAccepted]:
    """A run start always carries an ``Idempotency-Key`` (a fresh one unless given), so it
    can be sent again when the answer was lost: the API answers with the same run."""
    key = idempotency_key or f"client-{uuid.uuid4()}"
    return Call("POST", f"/v1/workflows/{workflow_id}/runs", model(RunAccepted),
                json={"input": input}, headers={"Idempotency-Key": key},
                replayable=True)  # fmt: skip


def runs(
    workflow_id: Id | None = None, status: str | None = None, limit: int | None = None
) -> Lister[RunSummary]:
    return lister("/v1/runs", RunSummary, limit, workflow_id=workflow_id, status=status)


def run(run_id: Id) -> Call[RunPublic]:
    return get(f"/v1/runs/{run_id}", RunPublic)


def run_events(run_id: Id) -> Call[RunEventsPublic]:
    return get(f"/v1/runs/{run_id}/events", RunEventsPublic)


def run_command(
    run_id: Id, action: str, if_match: int | None = None, **fields: Any
) -> Call[RunPublic]:
    """``cancel`` (with ``reason``), ``pause`` or ``resume``."""
    return post(f"/v1/runs/{run_id}/{action}", RunPublic, body(**fields) or NO_BODY, if_match)


def run_decision(
    run_id: Id,
    step_id: str,
    decision: str,
    comment: str | None = None,
    index: int | None = None,
    if_match: int | None = None,
) -> Call[RunPublic]:
    """``approve`` or ``reject`` a waiting ``approval`` step (``index``: a foreach item)."""
    path = f"/v1/runs/{run_id}/steps/{step_id}/{decision}"
    return post(path, RunPublic, {"comment": comment}, if_match, index=index)


def run_signal(run_id: Id, name: str, payload: Any = None) -> Call[SignalAccepted]:
    return post(f"/v1/runs/{run_id}/signals/{name}", SignalAccepted, payload)


def run_rerun(
    run_id: Id, from_step: str | None = None, input: Any = None
) -> Call[RunRerunAccepted]:
    return post(f"/v1/runs/{run_id}/rerun", RunRerunAccepted,
                body(from_step=from_step, input=input))  # fmt: skip
