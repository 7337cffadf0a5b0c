"""Runs: start (idempotent), read, cancel, pause and resume, answer approvals, signal, rerun."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Response, status

from api.auth import Principal, require, tenant_of
from api.bodies import invalid
from api.composition import Container
from api.deps import ContainerDep
from api.errors import ProblemError
from api.etag import IfMatchDep, set_etag
from api.pagination import Page, PageDep
from api.readdb import tenant_tx
from api.schemas.runs import (
    RunAccepted,
    RunCancel,
    RunCreate,
    RunPublic,
    RunRerun,
    RunRerunAccepted,
    RunStatus,
    RunSummary,
    SignalAccepted,
    StepDecision,
    StepItemPublic,
    StepPublic,
)
from api.telemetry import traced_start
from domain.identity.permissions import BUILTIN_ROLES, role_at_least
from domain.kernel.actor import acting_as
from domain.kernel.errors import ConflictError, NotFoundError
from domain.runs.application import DecideApproval, IdempotencyKeyReusedError, StartRun
from domain.runs.link_commands import RerunKeyReusedError, RerunRun, SendSignal
from domain.runs.run import Run
from projections.queries import runs as runs_read

router = APIRouter(tags=["runs"])

Starter = Annotated[Principal, Depends(require("runs:start"))]
Reader = Annotated[Principal, Depends(require("runs:read"))]
Canceller = Annotated[Principal, Depends(require("runs:cancel"))]
ItemIndex = Annotated[int | None, Query(ge=0, le=2**31 - 1, description="A foreach item.")]

# -- helpers -------------------------------------------------------------------------------


def read_run(container: Container, tenant_id: UUID, run_id: UUID) -> RunPublic:
    """A run with every step (definition order), from the read model; RLS fences the tenant."""
    with tenant_tx(container.read_pool, tenant_id) as conn:
        detail = runs_read.run_detail(conn, run_id)
    if detail is None:
        raise NotFoundError("run", run_id)
    by_step: dict[str, StepPublic] = {}
    for row in detail.steps:  # a step's own row comes before its items'
        shown = {"status": str(row["status"]), "attempts": row["attempt"]}
        shown |= {k: row[k] for k in ("input", "output", "error", "reason", "updated_at")}
        if row["item_index"] is None:
            by_step[row["step_id"]] = StepPublic(
                id=row["step_id"], waiting=row["waiting"], not_before=row["not_before"],
                reused_from=row.get("reused_from"), **shown,
            )  # fmt: skip
        elif (parent := by_step.get(row["step_id"])) is not None:
            item = StepItemPublic(index=row["item_index"], **shown)
            parent.items = (parent.items or []) + [item]
    order = {step_id: i for i, step_id in enumerate(detail.step_order)}
    ordered = sorted(by_step.values(), key=lambda s: (order.get(s.id, len(order)), s.id))
    run = detail.run
    return RunPublic(**_summary(run).model_dump(), input=run["input"], output=run["output"],
                     steps=ordered, children=[c["id"] for c in detail.children],
                     trigger=run.get("trigger"))  # fmt: skip


def _summary(row: dict[str, Any]) -> RunSummary:
    return RunSummary(**{k: row[k] for k in RunSummary.model_fields if k != "status"},
                      status=str(row["status"]))  # fmt: skip


def _answer(container: Container, tenant_id: UUID, run_id: UUID, response: Response) -> RunPublic:
    """Read-your-writes after a committed run write (the wait never raises), then the run."""
    container.wait_caught_up("runs")
    run = read_run(container, tenant_id, run_id)
    set_etag(response, run.version)
    return run


def _roles_held(container: Container, principal: Principal) -> set[str]:
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
            started = traced_start(container.telemetry, container.runs.start,
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
    container.wait_caught_up("runs")
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
    with tenant_tx(container.read_pool, tenant_of(principal)) as conn:
        rows, next_cursor = runs_read.list_runs(conn, page, workflow_id=workflow_id, status=status_)
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
        container.runs.cancel_run(
            tenant_id, run_id, body.reason if body else "cancelled", expected_version=expected
        )
    return _answer(container, tenant_id, run_id, response)


Steerer = Annotated[Principal, Depends(require("runs:pause"))]


@router.post("/v1/runs/{run_id}/pause", response_model=RunPublic)
def pause_run(
    run_id: UUID,
    principal: Steerer,
    container: ContainerDep,
    response: Response,
    expected: IfMatchDep,
) -> RunPublic:
    """Pause a running run: no new step starts and timers wait; attempts already running
    finish (409 unless the run is running; 412 if ``If-Match`` is stale)."""
    tenant_id = tenant_of(principal)
    with acting_as(principal.actor):
        container.runs.pause_run(tenant_id, run_id, expected_version=expected)
    return _answer(container, tenant_id, run_id, response)


@router.post("/v1/runs/{run_id}/resume", response_model=RunPublic)
def resume_run(
    run_id: UUID,
    principal: Steerer,
    container: ContainerDep,
    response: Response,
    expected: IfMatchDep,
) -> RunPublic:
    """Resume a paused run: what fell due meanwhile happens now (409 unless the run is
    paused; 412 if ``If-Match`` is stale)."""
    tenant_id = tenant_of(principal)
    with acting_as(principal.actor):
        container.runs.resume_run(tenant_id, run_id, expected_version=expected)
    return _answer(container, tenant_id, run_id, response)


def _decide(
    decision: str,
    run_id: UUID,
    step_id: str,
    index: int | None,
    principal: Principal,
    container: Container,
    body: StepDecision | None,
    response: Response,
    expected: int | None,
) -> RunPublic:
    tenant_id = tenant_of(principal)
    run = container.runs.get_run(tenant_id, run_id)  # a missing or foreign run: 404 first
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
        getattr(container.runs, f"{decision}_step")(cmd)
    return _answer(container, tenant_id, run_id, response)


def _check_known_role(container: Container, run: Run, step_id: str, index: int | None) -> None:
    """A templated approval role is checked when a decision is made: a role that names no
    known role (built-in or custom, any case) can be approved by nobody: 409, say so."""
    try:
        waiting = run.slot(step_id, index).get("waiting") or {}
    except NotFoundError:  # an unknown step or index: the command itself answers (404)
        return
    role = waiting.get("role")
    if waiting.get("kind") != "approval" or not isinstance(role, str) or not role.strip():
        return
    if not container.platform.is_known_role(role):
        raise ProblemError(
            409, f"The step's role {role!r} is not a known role: nobody can decide it."
        )


def _add_decision(decision: str, summary: str) -> None:
    """Register ``POST /v1/runs/{id}/steps/{step}/<decision>`` for an approval step."""

    def route(
        run_id: UUID,
        step_id: str,
        principal: Reader,
        container: ContainerDep,
        response: Response,
        expected: IfMatchDep,
        body: StepDecision | None = None,
        index: ItemIndex = None,
    ) -> RunPublic:
        return _decide(
            decision, run_id, step_id, index, principal, container, body, response, expected
        )

    route.__name__ = route.__qualname__ = f"{decision}_step"
    route.__doc__ = summary
    router.post(f"/v1/runs/{{run_id}}/steps/{{step_id}}/{decision}", response_model=RunPublic)(
        route
    )


for _decision, _doc in (
    ("approve", "Approve a waiting ``approval`` step (you must hold its role, or a higher one)."),
    (
        "reject",
        "Reject a waiting ``approval`` step: it fails (you must hold its role, or a higher one).",
    ),
):
    _add_decision(_decision, _doc)


# -- signals and reruns ------------------------------------------------------------------------


@router.post(
    "/v1/runs/{run_id}/signals/{name}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SignalAccepted,
)
def send_signal(
    run_id: UUID,
    name: Annotated[
        str,
        Path(
            min_length=1,
            max_length=100,
            pattern=r"^[A-Za-z0-9_.:-]+$",
            description="The signal's name: 1 to 100 letters, digits, '_', '.', ':' or '-'.",
        ),
    ],
    principal: Starter,
    container: ContainerDep,
    payload: Annotated[Any, Body(description="Any JSON: the output of the step it completes.")],
) -> SignalAccepted:
    """Send a signal: it completes the ``signal`` step waiting for it, or waits for one (202)."""
    tenant_id = tenant_of(principal)
    with acting_as(principal.actor):
        sent = container.runs.signal_run(SendSignal(
            tenant_id=tenant_id, run_id=run_id, name=name, payload=payload,
            by=principal.actor.user_id or principal.subject,
        ))  # fmt: skip
    container.wait_caught_up("runs")
    return SignalAccepted(run_id=run_id, name=name, step_id=sent.step_id, index=sent.index)


@router.post(
    "/v1/runs/{run_id}/rerun",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RunRerunAccepted,
)
def rerun(
    run_id: UUID,
    principal: Starter,
    container: ContainerDep,
    response: Response,
    body: RunRerun | None = None,
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=255,
            description="The same key and body rerun this run once: a retry gets that rerun.",
        ),
    ] = None,
) -> RunRerunAccepted:
    """Start a new run of an ended run's definition version that reuses the outputs of the
    steps not downstream of ``from_step`` (default: of the failed steps) (202)."""
    tenant_id = tenant_of(principal)
    if not container.platform.get_tenant(tenant_id).is_active:
        raise ConflictError(f"tenant {tenant_id} is not active: it starts no runs")
    original = container.runs.get_run(tenant_id, run_id)
    workflow = container.platform.get_workflow(tenant_id, UUID(original.workflow_id))
    definition = workflow.definition_at(original.workflow_version)
    if definition is None:
        raise ConflictError(f"workflow version {original.workflow_version} is gone")
    given = body.model_fields_set if body is not None else set()
    try:
        with acting_as(principal.actor):
            done = traced_start(container.telemetry, container.runs.rerun, RerunRun(
                tenant_id=tenant_id, run_id=run_id, definition=definition,
                started_by=principal.actor.user_id or principal.subject,
                from_step=body.from_step if body else None, new_input="input" in given,
                input=body.input if body else None, idempotency_key=idempotency_key,
            ))  # fmt: skip
    except RerunKeyReusedError as e:
        raise invalid(
            [("#header/idempotency-key", "already used with another body")], detail=str(e)
        ) from None
    container.wait_caught_up("runs")
    response.headers["Location"] = f"/v1/runs/{done.run.id}"
    if done.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return RunRerunAccepted(id=done.run.id, rerun_of=run_id, reused=done.reused)
