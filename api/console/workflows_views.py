"""The workflows pages: the list, the editor of a new or existing workflow (its check as you
type, versions and their diff, lifecycle buttons and the run form)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import yaml
from fastapi import APIRouter, Depends, Form, Query, Request
from starlette.responses import HTMLResponse

from api.auth import Principal, tenant_of
from api.console.input_form import JSON_FIELD, fields_for
from api.console.session import allowed, container_of
from api.console.templating import render
from api.console.text_diff import as_text, diff_rows
from api.console.triggers import triggers_context
from api.console.workflow_check import check_definition
from api.readdb import tenant_tx
from api.routes.workflows import read_workflow
from projections.queries import workflows as workflows_read
from projections.queries.paging import PageRequest

router = APIRouter()

Reader = Annotated[Principal, Depends(allowed("workflows:read"))]
Validator = Annotated[Principal, Depends(allowed("workflows:validate"))]
Writer = Annotated[Principal, Depends(allowed("workflows:write"))]
STATUSES = ("draft", "active", "paused", "archived")
DefinitionText = Annotated[str, Form(max_length=1_000_000)]
STARTER = """\
name: my-workflow
steps:
  - id: prepare
    uses: transform
    with:
      greeting: hello
  - id: finish
    uses: noop
    needs: [prepare]
"""


def source_of(definition: Any) -> str:
    """A stored definition as the editor shows it: YAML, keys in their stored order."""
    return str(yaml.safe_dump(definition, sort_keys=False, allow_unicode=True))


@router.get("/workflows", response_class=HTMLResponse)
def workflows_page(
    request: Request, principal: Reader, status: Annotated[str | None, Query(max_length=20)] = None
) -> HTMLResponse:
    """The tenant's workflows, with their status."""
    wanted = status if status in STATUSES else None
    with tenant_tx(container_of(request).read_pool, tenant_of(principal)) as conn:
        rows, _ = workflows_read.list_workflows(conn, PageRequest(limit=500), status=wanted)
    return render(request, "workflows.html", principal, workflows=rows, statuses=STATUSES,
                  status=wanted or "")  # fmt: skip


def editor_page(
    request: Request, principal: Principal, workflow_id: UUID | None, *, text: str | None = None,
    name: str = "", message: str = "", run_problems: list[tuple[str, str]] | None = None,
    diff: tuple[int, int] | None = None, status_code: int = 200, trigger_message: str = "",
    new_hook: Any = None,
) -> HTMLResponse:  # fmt: skip
    """The editor: a new workflow's, or an existing one's with everything about it (its
    schedules and hooks too, for a role that manages them; ``new_hook`` is a hook just created,
    whose secret this page is the only one to show)."""
    context: dict[str, Any] = {"workflow": None, "versions": [], "diff": None, "fields": None,
                               "triggers": None}  # fmt: skip
    if workflow_id is not None:
        container = container_of(request)
        row = read_workflow(container, tenant_of(principal), workflow_id)
        with tenant_tx(container.read_pool, tenant_of(principal)) as conn:
            versions = workflows_read.versions(conn, workflow_id)
        context.update(workflow=row, versions=versions, diff=_diff(versions, diff),
                       fields=fields_for(row["definition"].get("input_schema")),
                       triggers=triggers_context(request, principal, workflow_id))  # fmt: skip
        text = source_of(row["definition"]) if text is None else text
        name = name or str(row["name"])
    source = STARTER if text is None else text
    response = render(
        request, "workflow_edit.html", principal, status_code, source=source, wf_name=name,
        check=check_definition(request, principal, source) if principal.can(
            "workflows:validate") else None,
        message=message, run_problems=run_problems or [], json_field=JSON_FIELD,
        diff_pair=diff or _default_pair(context["versions"]), trigger_message=trigger_message,
        new_hook=new_hook, **context,
    )  # fmt: skip
    if new_hook is not None:
        response.headers["Cache-Control"] = "no-store"  # the hook's secret is shown once
    return response


def _default_pair(versions: list[dict[str, Any]]) -> tuple[int, int]:
    last = len(versions)
    return (max(1, last - 1), max(1, last))


def _diff(versions: list[dict[str, Any]], pair: tuple[int, int] | None) -> dict[str, Any] | None:
    if pair is None:
        return None
    by_number = {v["definition_version"]: v["definition"] for v in versions}
    left, right = pair
    if left not in by_number or right not in by_number:
        return None
    rows = diff_rows(as_text(by_number[left]), as_text(by_number[right]))
    return {"left": left, "right": right, "rows": rows,
            "changed": sum(r.kind != "same" for r in rows)}  # fmt: skip


@router.get("/workflows/new", response_class=HTMLResponse)
def new_workflow_page(request: Request, principal: Writer) -> HTMLResponse:
    """An empty editor (a starter definition)."""
    return editor_page(request, principal, None)


@router.get("/workflows/{workflow_id}", response_class=HTMLResponse)
def workflow_page(
    request: Request, workflow_id: UUID, principal: Reader,
    a: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    b: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> HTMLResponse:  # fmt: skip
    """One workflow: its current definition in the editor, versions, diff, run form."""
    return editor_page(request, principal, workflow_id,
                       diff=(a, b) if a is not None and b is not None else None)  # fmt: skip


@router.post("/workflows/check", response_class=HTMLResponse)
def check(request: Request, principal: Validator, definition: DefinitionText = "") -> HTMLResponse:
    """The editor's problems and preview (an htmx partial, posted as the user types)."""
    result = check_definition(request, principal, definition)
    return render(request, "_workflow_check.html", principal, check=result)
