"""The run page's link forms: rerun an ended run (``POST /v1/runs/{id}/rerun``: from a step,
with an optional new input) and send a signal (``POST /v1/runs/{id}/signals/{name}``), through
the JSON routes' own functions (same permission ``runs:start``, same checks)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Form, Request, Response
from starlette.responses import RedirectResponse

from api.auth import Principal
from api.console.admin_forms import FAILURES, failure
from api.console.input_form import json_text
from api.console.run_view import run_page_response
from api.console.session import allowed, container_of
from api.routes.runs import rerun, send_signal
from api.schemas.runs import RunRerun

router = APIRouter()

Starter = Annotated[Principal, Depends(allowed("runs:start"))]
StepId = Annotated[str, Form(max_length=63)]
Json = Annotated[str, Form(max_length=1_000_000)]
Key = Annotated[str, Form(max_length=255)]
SignalName = Annotated[str, Form(max_length=100)]


@router.post("/runs/{run_id}/rerun")
def rerun_run(
    run_id: UUID, request: Request, principal: Starter, from_step: StepId = "", input: Json = "",
    key: Key = "",
) -> Response:  # fmt: skip
    """A new run reusing the outputs of the steps not downstream of ``from_step`` (default: of
    the failed steps) → its page. The form's key makes a repeated post the same rerun."""
    try:
        fields: dict[str, Any] = {"from_step": from_step.strip() or None}
        if input.strip():
            fields["input"] = json_text(input, "/input")
        done = rerun(run_id, principal, container_of(request), Response(), RunRerun(**fields),
                     idempotency_key=key.strip() or None)  # fmt: skip
    except FAILURES as e:
        status_code, message = failure(e)
        return run_page_response(request, principal, run_id, status_code, message)
    return RedirectResponse(f"/ui/runs/{done.id}", status_code=303)


@router.post("/runs/{run_id}/signals")
def signal_run(
    run_id: UUID, request: Request, principal: Starter, name: SignalName = "", payload: Json = ""
) -> Response:
    """Send the signal ``name`` with the JSON ``payload`` (empty: ``null``) → the run's page."""
    try:
        value = json_text(payload, "/payload")
        send_signal(run_id, name.strip(), principal, container_of(request), value)
    except FAILURES as e:
        status_code, message = failure(e)
        return run_page_response(request, principal, run_id, status_code, message)
    return RedirectResponse(f"/ui/runs/{run_id}", status_code=303)
