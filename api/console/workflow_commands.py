"""The workflow editor's forms: create, save a new version (If-Match), activate, pause,
archive and start a run, each through the JSON route's own function (same service, same
checks); a stale version is a conflict shown on the page, never an overwrite."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Form, Request, Response
from starlette.responses import HTMLResponse, RedirectResponse

from api.auth import Principal, tenant_of
from api.console.input_form import fields_for, read_input
from api.console.session import allowed, container_of
from api.console.workflow_check import PREFIX
from api.console.workflows_views import DefinitionText, editor_page
from api.errors import ProblemError
from api.routes.runs import start_run
from api.routes.workflows import (
    _transition,
    create_workflow,
    read_workflow,
    update_definition,
)
from api.schemas.runs import RunCreate
from domain.kernel.errors import ConflictError, NotFoundError, ValidationError

router = APIRouter()

Writer = Annotated[Principal, Depends(allowed("workflows:write"))]
Starter = Annotated[Principal, Depends(allowed("runs:start"))]
Version = Annotated[int, Form(ge=1, le=2**31 - 1)]
Name = Annotated[str, Form(max_length=255)]
ACTIONS = ("activate", "pause", "archive")


async def posted_form(request: Request) -> dict[str, str]:
    """Every text field of the posted form (the run form's fields are the schema's)."""
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


FormFields = Annotated[dict[str, str], Depends(posted_form)]


def _problems_text(e: ProblemError | ValidationError) -> str:
    pairs = (
        [(str(p.get("pointer", "")), str(p.get("message", ""))) for p in e.errors or []]
        if isinstance(e, ProblemError)
        else [(p.pointer, p.message) for p in e.problems]
    )
    detail = e.detail if isinstance(e, ProblemError) else str(e)
    said = "; ".join(f"{p.removeprefix(PREFIX) or '/'}: {m}" for p, m in pairs)
    return f"{detail} {said}".strip()


def _to(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


@router.post("/workflows/new", response_class=HTMLResponse)
def create(request: Request, principal: Writer, definition: DefinitionText = "",
           name: Name = "") -> Response:  # fmt: skip
    """Create a draft workflow (``POST /v1/workflows``); problems keep the text on the page."""
    wf_name = name.strip() or _name_in(definition)
    try:
        created = create_workflow(request, {"name": wf_name, "definition": definition},
                                  principal, container_of(request), Response())  # fmt: skip
    except (ProblemError, ValidationError) as e:
        return editor_page(request, principal, None, text=definition, name=name,
                           message=_problems_text(e), status_code=422)  # fmt: skip
    return _to(f"/ui/workflows/{created.id}")


def _name_in(text: str) -> str:
    from engine.definition.dsl import load_definition_text

    try:
        data = load_definition_text(text)
    except (ValueError, RecursionError):
        return ""
    name = data.get("name") if isinstance(data, dict) else None
    return name if isinstance(name, str) else ""


@router.post("/workflows/{workflow_id}/save", response_class=HTMLResponse)
def save(request: Request, workflow_id: UUID, principal: Writer, version: Version,
         definition: DefinitionText = "") -> Response:  # fmt: skip
    """A new definition version (``PUT .../definition`` with ``If-Match`` = the version the
    editor was opened at): a newer version saved meanwhile is a conflict, shown as such."""
    try:
        update_definition(workflow_id, request, {"definition": definition}, principal,
                          container_of(request), Response(), version)  # fmt: skip
    except ConflictError as e:
        return editor_page(request, principal, workflow_id, text=definition, status_code=412,
                           message=f"Conflict: {e} Your text is kept below; reload to see "
                           "the newer version, then save again.")  # fmt: skip
    except (ProblemError, ValidationError) as e:
        return editor_page(request, principal, workflow_id, text=definition,
                           message=_problems_text(e), status_code=422)  # fmt: skip
    return _to(f"/ui/workflows/{workflow_id}")


@router.post("/workflows/{workflow_id}/runs", response_class=HTMLResponse)
def start(request: Request, workflow_id: UUID, principal: Starter, form: FormFields) -> Response:
    """Start a run from the form (``POST /v1/workflows/{id}/runs``) → the run's page."""
    container = container_of(request)
    row = read_workflow(container, tenant_of(principal), workflow_id)
    value, problems = read_input(fields_for(row["definition"].get("input_schema")), form)
    if problems:
        return editor_page(request, principal, workflow_id, run_problems=problems,
                           status_code=422)  # fmt: skip
    try:
        accepted = start_run(workflow_id, RunCreate(input=value), principal, container,
                             Response(), None)  # fmt: skip
    except (ProblemError, ValidationError, ConflictError) as e:
        said = str(e) if isinstance(e, ConflictError) else _problems_text(e)
        return editor_page(request, principal, workflow_id, run_problems=[("input", said)],
                           status_code=409 if isinstance(e, ConflictError) else 422)  # fmt: skip
    return _to(f"/ui/runs/{accepted.id}")


# registered last: its {action} would otherwise take /runs
@router.post("/workflows/{workflow_id}/{action}", response_class=HTMLResponse)
def transition(request: Request, workflow_id: UUID, action: str, principal: Writer,
               version: Version) -> Response:  # fmt: skip
    """Activate, pause or archive (``If-Match`` = the version the page showed)."""
    if action not in ACTIONS:
        raise NotFoundError("page", action)
    try:
        _transition(action, workflow_id, principal, container_of(request), Response(), version)
    except ConflictError as e:
        return editor_page(request, principal, workflow_id, message=f"Conflict: {e}",
                           status_code=409 if not _stale(e) else 412)  # fmt: skip
    return _to(f"/ui/workflows/{workflow_id}")


def _stale(e: ConflictError) -> bool:
    from domain.kernel.errors import StaleVersionError

    return isinstance(e, StaleVersionError)
