"""The run page's forms: cancel a run, approve or reject a waiting approval step, through the
JSON API's own code paths (same application service, same permission and role checks)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Form, Request, Response
from starlette.responses import RedirectResponse

from api.auth import Principal, tenant_of
from api.boundary import text_problem
from api.console.session import allowed, container_of
from api.errors import ProblemError
from api.routes.runs import _decide
from api.schemas.runs import StepDecision
from domain.kernel.actor import acting_as

router = APIRouter()

Canceller = Annotated[Principal, Depends(allowed("runs:cancel"))]
Reader = Annotated[Principal, Depends(allowed("runs:read"))]
Back = Annotated[str, Form(max_length=300)]
Comment = Annotated[str, Form(max_length=2000)]
Index = Annotated[int | None, Form(ge=0, le=2**31 - 1)]


def _back(target: str, run_id: UUID) -> RedirectResponse:
    """Back to the page the form was on (only a console path), else the run's page."""
    ok = target.startswith("/ui/") and not target.startswith("//") and "\\" not in target
    return RedirectResponse(target if ok else f"/ui/runs/{run_id}", status_code=303)


def _text(value: str, pointer: str) -> str | None:
    if text_problem(value):
        raise ProblemError(422, "The form holds characters that cannot be text.",
                           errors=[{"pointer": pointer, "message": "not text"}])  # fmt: skip
    return value.strip() or None


@router.post("/runs/{run_id}/cancel")
def cancel(run_id: UUID, request: Request, principal: Canceller, back: Back = "") -> Response:
    """Cancel the run (``Runs.cancel_run``, as ``POST /v1/runs/{id}/cancel``)."""
    container = container_of(request)
    with acting_as(principal.actor):
        container.runs.cancel_run(tenant_of(principal), run_id, "cancelled")
    container.wait_caught_up("runs")  # read-your-writes: the lists show it at once
    return _back(back, run_id)


def _decision(
    decision: str, run_id: UUID, step_id: str, request: Request, principal: Principal,
    index: int | None, comment: str, back: str,
) -> Response:  # fmt: skip
    note = _text(comment, "#form/comment")
    container = container_of(request)
    _decide(decision, run_id, step_id, index, principal, container,
            StepDecision(comment=note) if note else None, Response(), None)  # fmt: skip
    return _back(back, run_id)


@router.post("/runs/{run_id}/steps/{step_id}/approve")
def approve(
    run_id: UUID, step_id: str, request: Request, principal: Reader,
    index: Index = None, comment: Comment = "", back: Back = "",
) -> Response:  # fmt: skip
    """Approve a waiting approval step (``Runs.approve_step``; the user must hold its role)."""
    return _decision("approve", run_id, step_id, request, principal, index, comment, back)


@router.post("/runs/{run_id}/steps/{step_id}/reject")
def reject(
    run_id: UUID, step_id: str, request: Request, principal: Reader,
    index: Index = None, comment: Comment = "", back: Back = "",
) -> Response:  # fmt: skip
    """Reject a waiting approval step: it fails (the user must hold its role)."""
    return _decision("reject", run_id, step_id, request, principal, index, comment, back)
