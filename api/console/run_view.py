"""A run's page: its DAG coloured by step status, a step's detail, the timeline, the actions."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from starlette.responses import HTMLResponse

from api.auth import Principal, tenant_of
from api.console.dag import layout, state, step_states
from api.console.session import allowed, container_of
from api.console.templating import render
from api.readdb import tenant_tx
from api.routes.run_events import _event_public
from api.routes.runs import _roles_held
from domain.kernel.errors import NotFoundError
from domain.runs.run import Run
from projections.queries import runs as runs_read
from projections.queries import workflows as workflows_read

router = APIRouter()

Reader = Annotated[Principal, Depends(allowed("runs:read"))]
TIMELINE = 150
"""The page shows the run's last events (the live stream appends the next ones)."""


def timeline_entry(event: Any) -> dict[str, Any]:
    """One line of the timeline, for the page and for the live stream alike."""
    public = _event_public(event)
    data = public.data
    where = data.get("step_id")
    if where is not None and data.get("index") is not None:
        where = f"{where}[{data['index']}]"
    text = public.type + (f" {where}" if where else "")
    if public.type in ("StepFailed", "Failed", "Cancelled", "Rejected") and data.get("reason"):
        text += f": {data['reason']}"
    elif public.type == "Approved" and data.get("comment"):
        text += f": {data['comment']}"
    return {"sequence": public.sequence, "time": public.time.strftime("%H:%M:%S.%f")[:-3],
            "type": public.type, "text": text}  # fmt: skip


def recent_events(run: Run, container: Any, count: int = TIMELINE) -> list[Any]:
    store = container.runs.repository.event_store
    return list(store.get(run.id, gt=max(0, run.version - count)))


def waits(run: Run, kind: str) -> list[dict[str, Any]]:
    """Every step (or foreach item) of the run waiting with ``kind`` (``approval``, ``signal``,
    ``workflow``...): its id, index, and the wait's ``role`` or ``name``."""
    found = []
    for sid, slot in run.steps.items():
        places: list[tuple[int | None, Any]] = [(None, slot), *enumerate(slot.get("items") or [])]
        for index, where in places:
            waiting = where.get("waiting") or {}
            if waiting.get("kind") == kind:
                found.append({"step_id": sid, "index": index, "role": waiting.get("role"),
                              "name": waiting.get("name")})  # fmt: skip
    return found


def waiting_approvals(run: Run) -> list[dict[str, Any]]:
    """Every approval step (or foreach item) of the run waiting for a decision."""
    return waits(run, "approval")


def wait_keys(run: Run) -> list[str]:
    """What the run waits on that the page has buttons or links for (approvals, signals,
    child runs): when it changes, the page redraws its actions and links."""
    return [f"{kind}:{w['step_id']}:{w['index']}" for kind in ("approval", "signal", "workflow")
            for w in waits(run, kind)]  # fmt: skip


def actions(request: Request, principal: Principal, run: Run) -> dict[str, Any]:
    """What this principal may do to the run now: cancel, and the approvals it may answer."""
    container = container_of(request)
    answerable: list[dict[str, Any]] = []
    if principal.kind == "user" and not run.is_done:
        held = {r.casefold() for r in _roles_held(container, principal)}
        answerable = [a for a in waiting_approvals(run)
                      if isinstance(a["role"], str) and a["role"].casefold() in held]  # fmt: skip
    return {
        "can_cancel": principal.can("runs:cancel") and not run.is_done,
        "approvals": answerable,
    }


def load(request: Request, principal: Principal, run_id: UUID) -> tuple[Run, Any]:
    """The run (its aggregate: as current as its events) and its read-model detail (the
    definition it runs); another tenant's run is a 404."""
    container = container_of(request)
    run = container.runs.get_run(tenant_of(principal), run_id)
    with tenant_tx(container.read_pool, tenant_of(principal)) as conn:
        detail = runs_read.run_detail(conn, run_id)
        flow = workflows_read.workflow(conn, UUID(run.workflow_id))
    if detail is None:
        raise NotFoundError("run", run_id)
    return run, (detail, flow)


def run_page_response(
    request: Request, principal: Principal, run_id: UUID, status_code: int = 200,
    message: str = "",
) -> HTMLResponse:  # fmt: skip
    """The run's page (``message``: why a form posted from it was refused)."""
    from api.console.run_links import links

    run, (detail, flow) = load(request, principal, run_id)
    steps = [s for s in detail.definition.get("steps", []) if isinstance(s, dict)]
    events = recent_events(run, container_of(request))
    return render(
        request, "run.html", principal, status_code, run=run, workflow=flow,
        graph=layout(steps), states=step_states(run.steps), message=message,
        timeline=[timeline_entry(e) for e in events], sequence=run.version,
        **actions(request, principal, run), **links(principal, run, detail),
    )  # fmt: skip


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(run_id: UUID, request: Request, principal: Reader) -> HTMLResponse:
    """The run: DAG, live statuses, timeline, actions, its run tree and link forms."""
    return run_page_response(request, principal, run_id)


@router.get("/runs/{run_id}/actions", response_class=HTMLResponse)
def run_actions(run_id: UUID, request: Request, principal: Reader) -> HTMLResponse:
    """The actions partial (refreshed when the live stream says they changed)."""
    run = container_of(request).runs.get_run(tenant_of(principal), run_id)
    return render(request, "_run_actions.html", principal, run=run,
                  **actions(request, principal, run))  # fmt: skip


@router.get("/runs/{run_id}/steps/{step_id}", response_class=HTMLResponse)
def step_detail(run_id: UUID, step_id: str, request: Request, principal: Reader) -> HTMLResponse:
    """A step's attempts, input, output, error and timings (its items' too)."""
    container = container_of(request)
    run = container.runs.get_run(tenant_of(principal), run_id)
    slot = run.steps.get(step_id)
    if slot is None:
        raise NotFoundError("step", step_id)
    store = container.runs.repository.event_store
    history = [timeline_entry(e) for e in store.get(run.id)
               if getattr(e, "step_id", None) == step_id]  # fmt: skip
    items = slot.get("items")
    return render(
        request, "_step_detail.html", principal, run=run, step_id=step_id, slot=slot,
        summary=state(slot, items), items=items or [], history=history,
    )  # fmt: skip
