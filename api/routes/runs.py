"""Runs: start (idempotent), read, cancel, pause and resume, answer approvals, follow events."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import anyio
from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from pydantic import BaseModel, Field
from sse_starlette import EventSourceResponse, ServerSentEvent

from api.auth import Principal, require, tenant_of
from api.bodies import invalid
from api.boundary import ascii_int
from api.deps import ContainerDep
from api.errors import ProblemError
from api.etag import IfMatchDep, set_etag
from api.pagination import Page, PageDep, fetch_page
from api.readdb import tenant_tx
from api.schemas import Strict
from domain.identity.permissions import BUILTIN_ROLES, role_at_least
from domain.kernel.actor import acting_as
from domain.kernel.errors import ConflictError, NotFoundError

router = APIRouter(tags=["runs"])

Starter = Annotated[Principal, Depends(require("runs:start"))]
Reader = Annotated[Principal, Depends(require("runs:read"))]
Canceller = Annotated[Principal, Depends(require("runs:cancel"))]
RunStatus = Literal["pending", "running", "succeeded", "failed", "cancelled", "paused"]
TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
STREAM_POLL_S = 0.2


class RunCreate(Strict):
    input: Any = Field(default=None, description="Validated against the workflow's input_schema.")


class RunAccepted(BaseModel):
    id: UUID
    status: str
    workflow_version: int


class RunCancel(Strict):
    reason: str = Field(default="cancelled", max_length=1000)


class StepDecision(Strict):
    comment: str | None = Field(default=None, max_length=4000)


class StepItemPublic(BaseModel):
    index: int
    status: str
    attempts: int
    input: Any = None
    output: Any = None
    error: dict[str, Any] | None = None
    reason: str | None = None
    updated_at: datetime


class StepPublic(BaseModel):
    id: str
    status: str
    attempts: int
    input: Any = None
    output: Any = None
    error: dict[str, Any] | None = None
    reason: str | None = None
    waiting: dict[str, Any] | None = None
    not_before: datetime | None = None
    updated_at: datetime
    items: list[StepItemPublic] | None = None


class RunSummary(BaseModel):
    id: UUID
    workflow_id: UUID
    workflow_version: int
    status: str
    started_by: str
    reason: str | None = None
    version: int
    created_at: datetime
    updated_at: datetime
    ended_at: datetime | None = None


class RunPublic(RunSummary):
    input: Any = None
    output: Any = None
    steps: list[StepPublic]


class RunEventPublic(BaseModel):
    sequence: int = Field(description="The event's position in the run (1, 2, ...).")
    type: str
    time: datetime
    data: dict[str, Any]


class RunEventsPublic(BaseModel):
    items: list[RunEventPublic]


# -- helpers -------------------------------------------------------------------------------


def _runs(container: Any) -> Any:
    if container.runs is None:
        raise ProblemError(503, "The run engine is not available in this deployment.")
    return container.runs


def _runs_projected(container: Any) -> None:
    """Read-your-writes after a committed run write: never raises (see ``wait_projected``)."""
    _runs(container)
    container.wait_caught_up("runs")


def read_run(container: Any, tenant_id: UUID, run_id: UUID) -> RunPublic:
    """A run with every step (definition order), from the read model; RLS fences the tenant."""
    with tenant_tx(container.read_pool, tenant_id) as conn:
        run = conn.execute("SELECT * FROM runs WHERE id = %s", (run_id,)).fetchone()
        if run is None:
            raise NotFoundError("run", run_id)
        steps = conn.execute(
            "SELECT * FROM run_steps WHERE run_id = %s ORDER BY step_id, item_index NULLS FIRST",
            (run_id,),
        ).fetchall()
        definition = conn.execute(
            "SELECT definition FROM workflow_versions"
            " WHERE workflow_id = %s AND definition_version = %s",
            (run["workflow_id"], run["workflow_version"]),
        ).fetchone()
    order = {
        s.get("id"): i
        for i, s in enumerate((definition or {}).get("definition", {}).get("steps", []))
        if isinstance(s, dict)
    }
    by_step: dict[str, StepPublic] = {}
    for row in steps:
        if row["item_index"] is None:
            by_step[row["step_id"]] = StepPublic(
                id=row["step_id"],
                status=str(row["status"]),
                attempts=row["attempt"],
                input=row["input"],
                output=row["output"],
                error=row["error"],
                reason=row["reason"],
                waiting=row["waiting"],
                not_before=row["not_before"],
                updated_at=row["updated_at"],
            )
        else:
            parent = by_step.get(row["step_id"])
            if parent is None:
                continue
            parent.items = (parent.items or []) + [
                StepItemPublic(
                    index=row["item_index"],
                    status=str(row["status"]),
                    attempts=row["attempt"],
                    input=row["input"],
                    output=row["output"],
                    error=row["error"],
                    reason=row["reason"],
                    updated_at=row["updated_at"],
                )
            ]
    ordered = sorted(by_step.values(), key=lambda s: (order.get(s.id, len(order)), s.id))
    return RunPublic(**_summary(run).model_dump(), input=run["input"], output=run["output"],
                     steps=ordered)  # fmt: skip


def _summary(row: dict[str, Any]) -> RunSummary:
    return RunSummary(**{k: row[k] for k in RunSummary.model_fields if k != "status"},
                      status=str(row["status"]))  # fmt: skip


def _answer(container: Any, tenant_id: UUID, run_id: UUID, response: Response) -> RunPublic:
    _runs_projected(container)
    run = read_run(container, tenant_id, run_id)
    set_etag(response, run.version)
    return run


def _roles_held(container: Any, principal: Principal) -> set[str]:
    """Built-in roles at or below the caller's (admin holds manager), plus custom roles."""
    held = {r for r in BUILTIN_ROLES if role_at_least(principal.role, r)}
    if principal.user_id is not None and principal.tenant_id is not None:
        user = container.platform.get_user(principal.tenant_id, principal.user_id)
        for role_id in user.role_ids:
            try:
                held.add(container.platform.get_role(role_id).name)
            except NotFoundError:
                continue
    return held


def _event_public(event: Any) -> RunEventPublic:
    from projections.audit.projection import event_details
    from projections.jsonutil import dumps

    return RunEventPublic(
        sequence=event.originator_version,
        type=type(event).__qualname__.split(".")[-1],
        time=event.timestamp,
        data=json.loads(dumps(event_details(event))),
    )


def _events_after(runs: Any, run_id: UUID, after: int | None) -> list[RunEventPublic]:
    return [_event_public(e) for e in runs.repository.event_store.get(run_id, gt=after)]


# -- routes --------------------------------------------------------------------------------


@router.post(
    "/v1/workflows/{workflow_id}/runs",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RunAccepted,
)
def start_run(
    workflow_id: UUID,
    body: RunCreate,
    principal: Starter,
    container: ContainerDep,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(max_length=255, description="Same key and body within 24 h: the same run."),
    ] = None,
) -> RunAccepted:
    """Start a run of an active workflow's current definition version (202)."""
    from domain.runs.application import IdempotencyKeyReusedError, StartRun

    runs = _runs(container)
    tenant_id = tenant_of(principal)
    if not container.platform.get_tenant(tenant_id).is_active:
        raise ConflictError(f"tenant {tenant_id} is not active: it starts no runs")
    workflow = container.platform.get_workflow(tenant_id, workflow_id)
    if workflow.status != "active":
        raise ConflictError(
            f"workflow {workflow_id} is {workflow.status}: only active workflows start runs",
            resource_type="workflow",
            resource_id=workflow_id,
        )
    try:
        with acting_as(principal.actor):
            started = runs.start(
                StartRun(
                    tenant_id=tenant_id,
                    workflow_id=workflow_id,
                    workflow_version=workflow.current_version,
                    definition=workflow.definition,
                    input=body.input,
                    started_by=principal.actor.user_id or principal.subject,
                    idempotency_key=idempotency_key,
                )
            )
    except IdempotencyKeyReusedError as e:
        raise invalid(
            [("#header/idempotency-key", "already used with another body")], detail=str(e)
        ) from None
    run = started.run
    _runs_projected(container)
    response.headers["Location"] = f"/v1/runs/{run.id}"
    if started.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return RunAccepted(id=run.id, status=run.status, workflow_version=run.workflow_version)


@router.get("/v1/runs", response_model=Page[RunSummary])
def list_runs(
    principal: Reader,
    container: ContainerDep,
    page: PageDep,
    workflow_id: UUID | None = None,
    status_: Annotated[RunStatus | None, Query(alias="status")] = None,
) -> Page[RunSummary]:
    """The tenant's runs, newest first (filter by ``workflow_id`` and ``status``)."""
    where: list[str] = []
    params: list[Any] = []
    if workflow_id is not None:
        where.append("workflow_id = %s")
        params.append(workflow_id)
    if status_ is not None:
        where.append("status = %s")
        params.append(status_)
    with tenant_tx(container.read_pool, tenant_of(principal)) as conn:
        rows, next_cursor = fetch_page(
            conn, "SELECT * FROM runs", page, where=where, params=params, descending=True
        )
    return Page(items=[_summary(r) for r in rows], next_cursor=next_cursor)


@router.get("/v1/runs/{run_id}", response_model=RunPublic)
def get_run(
    run_id: UUID, principal: Reader, container: ContainerDep, response: Response
) -> RunPublic:
    """One run with every step's status, attempts, output and error."""
    run = read_run(container, tenant_of(principal), run_id)
    set_etag(response, run.version)
    return run


@router.post("/v1/runs/{run_id}/cancel", response_model=RunPublic)
def cancel_run(
    run_id: UUID,
    principal: Canceller,
    container: ContainerDep,
    response: Response,
    expected: IfMatchDep,
    body: RunCancel | None = None,
) -> RunPublic:
    """Cancel a run that has not ended (409 if it has; 412 if ``If-Match`` is stale)."""
    tenant_id = tenant_of(principal)
    with acting_as(principal.actor):
        _runs(container).cancel_run(
            tenant_id, run_id, body.reason if body else "cancelled", expected_version=expected
        )
    return _answer(container, tenant_id, run_id, response)


def _decide(
    decision: str,
    run_id: UUID,
    step_id: str,
    index: int | None,
    principal: Principal,
    container: Any,
    body: StepDecision | None,
    response: Response,
    expected: int | None,
) -> RunPublic:
    from domain.runs.application import DecideApproval

    runs = _runs(container)
    tenant_id = tenant_of(principal)
    run = runs.get_run(tenant_id, run_id)  # a missing or foreign run is a 404 before anything
    _check_known_role(container, run, step_id, index)
    cmd = DecideApproval(
        tenant_id=tenant_id,
        run_id=run_id,
        step_id=step_id,
        user_id=principal.actor.user_id or principal.subject,
        roles=_roles_held(container, principal),
        comment=body.comment if body else None,
        index=index,
        expected_version=expected,
    )
    with acting_as(principal.actor):
        getattr(runs, f"{decision}_step")(cmd)
    return _answer(container, tenant_id, run_id, response)


def _check_known_role(container: Any, run: Any, step_id: str, index: int | None) -> None:
    """A templated approval role is checked when a decision is made: a role that names no
    known role (built-in or custom, any case) can be approved by nobody: 409, say so."""
    try:
        waiting = run.slot(step_id, index).get("waiting") or {}
    except NotFoundError:  # an unknown step or index: the command itself answers (404)
        return
    role = waiting.get("role")
    named = waiting.get("kind") == "approval" and isinstance(role, str) and bool(role.strip())
    if named and not container.platform.is_known_role(role):
        raise ProblemError(
            409, f"The step's role {role!r} is not a known role: nobody can decide it."
        )


@router.post("/v1/runs/{run_id}/steps/{step_id}/approve", response_model=RunPublic)
def approve_step(
    run_id: UUID,
    step_id: str,
    principal: Reader,
    container: ContainerDep,
    response: Response,
    expected: IfMatchDep,
    body: StepDecision | None = None,
    index: Annotated[int | None, Query(ge=0, le=2**31 - 1, description="A foreach item.")] = None,
) -> RunPublic:
    """Approve a waiting ``approval`` step (you must hold its role, or a higher one)."""
    return _decide(
        "approve", run_id, step_id, index, principal, container, body, response, expected
    )


@router.post("/v1/runs/{run_id}/steps/{step_id}/reject", response_model=RunPublic)
def reject_step(
    run_id: UUID,
    step_id: str,
    principal: Reader,
    container: ContainerDep,
    response: Response,
    expected: IfMatchDep,
    body: StepDecision | None = None,
    index: Annotated[int | None, Query(ge=0, le=2**31 - 1, description="A foreach item.")] = None,
) -> RunPublic:
    """Reject a waiting ``approval`` step: it fails (you must hold its role, or a higher one)."""
    return _decide(
        "reject", run_id, step_id, index, principal, container, body, response, expected
    )


@router.get("/v1/runs/{run_id}/events", response_model=RunEventsPublic)
def list_run_events(run_id: UUID, principal: Reader, container: ContainerDep) -> RunEventsPublic:
    """The run's events, in order (read from the event store: complete up to now)."""
    runs = _runs(container)
    runs.get_run(tenant_of(principal), run_id)
    return RunEventsPublic(items=_events_after(runs, run_id, None))


def _last_event_id(value: str | None) -> int | None:
    if value is None or not value.strip():
        return None
    sequence = ascii_int(value.strip())
    if sequence is None:
        raise invalid([("#header/last-event-id", "must be an event sequence number")])
    return sequence


@router.get(
    "/v1/runs/{run_id}/events/stream",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Server-sent events"}},
)
def stream_run_events(
    run_id: UUID,
    request: Request,
    principal: Reader,
    container: ContainerDep,
    last_event_id: Annotated[str | None, Header()] = None,
    after: Annotated[
        int | None, Query(ge=0, le=2**63 - 1, description="Like Last-Event-ID.")
    ] = None,
) -> EventSourceResponse:
    """The run's events as server-sent events, live; the stream ends when the run has ended.

    Each event's ``id`` is its sequence number: reconnect with ``Last-Event-ID`` to resume.
    """
    runs = _runs(container)
    runs.get_run(tenant_of(principal), run_id)
    start = _last_event_id(last_event_id)
    if start is None:
        start = after

    async def events() -> AsyncIterator[ServerSentEvent]:
        seen = start
        while True:
            batch = await anyio.to_thread.run_sync(_events_after, runs, run_id, seen)
            for event in batch:
                seen = event.sequence
                yield ServerSentEvent(
                    data=event.model_dump_json(), event=event.type, id=str(event.sequence)
                )
            if not batch:
                run = await anyio.to_thread.run_sync(runs.load, run_id)
                # >=: a client may resume (?after=, Last-Event-ID) past the run's last event
                if run.is_done and (seen or 0) >= run.version:
                    return
                if await request.is_disconnected():
                    return
                await anyio.sleep(STREAM_POLL_S)

    return EventSourceResponse(events(), ping=15)


Steerer = Annotated[Principal, Depends(require("runs:pause"))]


@router.post("/v1/runs/{run_id}/pause", response_model=RunPublic)
def pause_run(
    run_id: UUID, principal: Steerer, container: ContainerDep, response: Response,
    expected: IfMatchDep,
) -> RunPublic:
    """Pause a running run: no new step starts and timers wait; attempts already running
    finish (409 unless the run is running; 412 if ``If-Match`` is stale)."""
    tenant_id = tenant_of(principal)
    with acting_as(principal.actor):
        _runs(container).pause_run(tenant_id, run_id, expected_version=expected)
    return _answer(container, tenant_id, run_id, response)


@router.post("/v1/runs/{run_id}/resume", response_model=RunPublic)
def resume_run(
    run_id: UUID, principal: Steerer, container: ContainerDep, response: Response,
    expected: IfMatchDep,
) -> RunPublic:
    """Resume a paused run: what fell due meanwhile happens now (409 unless the run is
    paused; 412 if ``If-Match`` is stale)."""
    tenant_id = tenant_of(principal)
    with acting_as(principal.actor):
        _runs(container).resume_run(tenant_id, run_id, expected_version=expected)
    return _answer(container, tenant_id, run_id, response)
