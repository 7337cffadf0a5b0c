"""Workflows: definitions (JSON or YAML), their versions and the status lifecycle."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response, status

from api.auth import Principal, require, tenant_of
from api.bodies import ANY, definition_body, invalid, is_yaml, json_or_yaml, model_from
from api.bodies import parse_definition_text as parse_text
from api.composition import Container
from api.deps import ContainerDep
from api.errors import ProblemError
from api.etag import IfMatchDep, RequiredIfMatchDep, set_etag
from api.pagination import Page, PageDep
from api.readdb import tenant_tx
from api.schemas.workflows import (
    DefinitionSubmit,
    ValidationProblem,
    ValidationResult,
    WorkflowCreate,
    WorkflowPublic,
    WorkflowVersionPublic,
    WorkflowVersionsPublic,
)
from domain.kernel.actor import acting_as
from domain.kernel.errors import NotFoundError
from domain.workflows.commands import CreateWorkflow, UpdateDefinition
from engine.definition.dsl import MAX_STEPS
from projections.queries import workflows

router = APIRouter(prefix="/v1/workflows", tags=["workflows"])
schemas_router = APIRouter(prefix="/v1/schemas", tags=["workflows"])

Reader = Annotated[Principal, Depends(require("workflows:read"))]
Writer = Annotated[Principal, Depends(require("workflows:write"))]
Validator = Annotated[Principal, Depends(require("workflows:validate"))]
Body = Annotated[Any, Depends(json_or_yaml)]


# -- helpers -------------------------------------------------------------------------------


def _step_cap(raw: Any, pointer: str) -> list[tuple[str, str]]:
    """The step cap, checked on the parsed body before any model or copy of it is made."""
    definition = raw.get("definition") if pointer and isinstance(raw, dict) else raw
    steps = definition.get("steps") if isinstance(definition, dict) else None
    if isinstance(steps, list) and len(steps) > MAX_STEPS:
        return [(f"{pointer}/steps", f"has {len(steps):,} steps; the limit is {MAX_STEPS}")]
    return []


def _check_step_cap(raw: Any, pointer: str) -> None:
    if problems := _step_cap(raw, pointer):
        raise invalid(problems)


def _definition(value: dict[str, Any] | str, pointer: str) -> Any:
    return parse_text(value, pointer) if isinstance(value, str) else value


def _named_definition(request: Request, raw: Any, name: str | None) -> tuple[Any, Any]:
    """A create's definition and name: a YAML body is the definition itself, named by
    ``?name=`` or its own ``name``; a JSON body is ``{name, definition}``."""
    _check_step_cap(raw, "" if is_yaml(request) else "/definition")
    if not is_yaml(request):
        body = model_from(WorkflowCreate, raw)
        return _definition(body.definition, "/definition"), body.name
    if name is None and isinstance(raw, dict):
        name = raw.get("name")
    if name is None:
        raise invalid([("/name", "is required (as ?name= or in the definition)")])
    return raw, name


def _submitted_definition(request: Request, raw: Any) -> Any:
    """A new version's definition: a YAML body is the definition, a JSON one ``{definition}``."""
    _check_step_cap(raw, "" if is_yaml(request) else "/definition")
    if is_yaml(request):
        return raw
    return _definition(model_from(DefinitionSubmit, raw).definition, "/definition")


def _public(row: dict[str, Any]) -> WorkflowPublic:
    return WorkflowPublic(
        id=row["id"],
        name=row["name"],
        status=str(row["status"]),
        definition_version=row["current_version"],
        definition=row["definition"],
        created_by=row["created_by"],
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def read_workflow(container: Container, tenant_id: UUID, workflow_id: UUID) -> dict[str, Any]:
    """The workflow's read-model row; another tenant's is missing (RLS)."""
    with tenant_tx(container.read_pool, tenant_id) as conn:
        row = workflows.workflow(conn, workflow_id)
    if row is None:
        raise NotFoundError("workflow", workflow_id)
    return row


def _answer(
    container: Container, tenant_id: UUID, workflow_id: UUID, response: Response
) -> WorkflowPublic:
    container.wait_caught_up()
    row = read_workflow(container, tenant_id, workflow_id)
    set_etag(response, row["version"])
    return _public(row)


# -- routes --------------------------------------------------------------------------------


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=WorkflowPublic,
    openapi_extra=definition_body("WorkflowCreate"),
)
def create_workflow(
    request: Request,
    raw: Body,
    principal: Writer,
    container: ContainerDep,
    response: Response,
    name: Annotated[str | None, Query(description="Name for a YAML body (else its name).")] = None,
) -> WorkflowPublic:
    """Create a draft workflow at definition version 1 (JSON ``{name, definition}`` or YAML)."""
    definition, wf_name = _named_definition(request, raw, name)
    tenant_id = tenant_of(principal)
    with acting_as(principal.actor):
        workflow = container.platform.create_workflow(
            CreateWorkflow(
                tenant_id=tenant_id,
                name=wf_name,
                definition=definition,
                created_by=principal.user_id,
            )
        )
    response.headers["Location"] = f"/v1/workflows/{workflow.id}"
    return _answer(container, tenant_id, workflow.id, response)


@router.post(
    "/validate",
    response_model=ValidationResult,
    # any definition, even one the schema would refuse: the answer lists its problems
    openapi_extra=definition_body("DefinitionCheck", ANY),
)
def validate_workflow(
    request: Request, raw: Body, principal: Validator, container: ContainerDep
) -> ValidationResult:
    """Validate a definition without saving it; every problem with a JSON Pointer."""
    if capped := _step_cap(raw, "" if is_yaml(request) else "/definition"):
        return ValidationResult(
            valid=False, errors=[ValidationProblem(pointer=p, message=m) for p, m in capped]
        )
    if is_yaml(request):
        definition, prefix = raw, ""  # pointers into the submitted document itself
    else:
        body = model_from(DefinitionSubmit, raw)
        try:
            definition, prefix = _definition(body.definition, "/definition"), "/definition"
        except ProblemError as e:
            return ValidationResult(
                valid=False, errors=[ValidationProblem(**p) for p in e.errors or []]
            )
    problems = container.platform.validate_definition(tenant_of(principal), definition)
    errors = [
        ValidationProblem(pointer=prefix + p.removeprefix("/definition"), message=m)
        for p, m in problems
    ]
    return ValidationResult(valid=not errors, errors=errors)


@router.get("", response_model=Page[WorkflowPublic])
def list_workflows(
    principal: Reader,
    container: ContainerDep,
    page: PageDep,
    status_: Annotated[
        Literal["draft", "active", "paused", "archived"] | None, Query(alias="status")
    ] = None,
) -> Page[WorkflowPublic]:
    """List the tenant's workflows, oldest first (filter by ``status``)."""
    with tenant_tx(container.read_pool, tenant_of(principal)) as conn:
        rows, next_cursor = workflows.list_workflows(conn, page, status=status_)
    return Page(items=[_public(r) for r in rows], next_cursor=next_cursor)


@router.get("/{workflow_id}", response_model=WorkflowPublic)
def get_workflow(
    workflow_id: UUID, principal: Reader, container: ContainerDep, response: Response
) -> WorkflowPublic:
    """One workflow with its current definition."""
    row = read_workflow(container, tenant_of(principal), workflow_id)
    set_etag(response, row["version"])
    return _public(row)


@router.put(
    "/{workflow_id}/definition",
    response_model=WorkflowPublic,
    openapi_extra=definition_body("DefinitionSubmit"),
)
def update_definition(
    workflow_id: UUID,
    request: Request,
    raw: Body,
    principal: Writer,
    container: ContainerDep,
    response: Response,
    expected: RequiredIfMatchDep,
) -> WorkflowPublic:
    """Add a definition version (``If-Match`` required: 428 without, 412 when stale)."""
    definition = _submitted_definition(request, raw)
    tenant_id = tenant_of(principal)
    with acting_as(principal.actor):
        container.platform.update_definition(
            UpdateDefinition(
                tenant_id=tenant_id,
                workflow_id=workflow_id,
                definition=definition,
                updated_by=principal.user_id,
                expected_version=expected,
            )
        )
    return _answer(container, tenant_id, workflow_id, response)


@router.get("/{workflow_id}/versions", response_model=WorkflowVersionsPublic)
def list_versions(
    workflow_id: UUID, principal: Reader, container: ContainerDep
) -> WorkflowVersionsPublic:
    """Every definition version of a workflow, oldest first."""
    tenant_id = tenant_of(principal)
    read_workflow(container, tenant_id, workflow_id)
    with tenant_tx(container.read_pool, tenant_id) as conn:
        rows = workflows.versions(conn, workflow_id)
    return WorkflowVersionsPublic(items=[WorkflowVersionPublic(**r) for r in rows])


def _transition(
    action: str,
    workflow_id: UUID,
    principal: Principal,
    container: Container,
    response: Response,
    expected: int | None,
) -> WorkflowPublic:
    tenant_id = tenant_of(principal)
    with acting_as(principal.actor):
        getattr(container.platform, f"{action}_workflow")(
            tenant_id, workflow_id, expected_version=expected
        )
    return _answer(container, tenant_id, workflow_id, response)


def _add_transition(action: str, summary: str) -> None:
    """Register ``POST /v1/workflows/{id}/<action>``: one route per lifecycle command."""

    def route(
        workflow_id: UUID,
        principal: Writer,
        container: ContainerDep,
        response: Response,
        expected: IfMatchDep,
    ) -> WorkflowPublic:
        return _transition(action, workflow_id, principal, container, response, expected)

    route.__name__ = route.__qualname__ = f"{action}_workflow"
    route.__doc__ = summary
    router.post(f"/{{workflow_id}}/{action}", response_model=WorkflowPublic)(route)


for _action, _summary in (
    ("activate", "Activate: only active workflows start runs."),
    ("pause", "Pause: no new runs until activated again."),
    ("archive", "Archive for good."),
):
    _add_transition(_action, _summary)


@schemas_router.get("/workflow-definition")
def workflow_definition_schema() -> dict[str, Any]:
    """The JSON Schema (2020-12) of a workflow definition."""
    from engine.definition.dsl import published_json_schema

    return published_json_schema()
