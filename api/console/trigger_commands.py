"""The workflow page's trigger forms: create, pause, resume and delete a schedule (``If-Match`` =
the version the page showed), create a hook (its secret shown once) and delete one, each through
the JSON route's own function (same permission ``triggers:manage``, same checks)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Form, Request, Response
from starlette.responses import HTMLResponse, RedirectResponse

from api.auth import Principal, tenant_of
from api.console.admin_forms import FAILURES, failure
from api.console.input_form import json_text
from api.console.session import allowed, container_of
from api.console.triggers import PERMISSION, signing_example
from api.console.workflows_views import editor_page
from api.routes.hooks import create_hook, delete_hook
from api.routes.schedules import create_schedule as create_schedule_route
from api.routes.schedules import delete_schedule, get_schedule, update_schedule
from api.schemas.triggers import HookCreate, ScheduleCreate, SchedulePatch
from domain.kernel.errors import NotFoundError

router = APIRouter()

Manager = Annotated[Principal, Depends(allowed(PERMISSION))]
Version = Annotated[int, Form(ge=1, le=2**31 - 1)]
Cron = Annotated[str, Form(max_length=200)]
Zone = Annotated[str, Form(max_length=64)]
Policy = Annotated[str, Form(max_length=20)]
Json = Annotated[str, Form(max_length=1_000_000)]
Mapping = Annotated[str, Form(max_length=4096)]
SCHEDULE_ACTIONS = {"pause": "paused", "resume": "active"}


def _to(workflow_id: UUID, part: str) -> RedirectResponse:
    return RedirectResponse(f"/ui/workflows/{workflow_id}#{part}", status_code=303)


def _failed(request: Request, principal: Principal, workflow_id: UUID, e: Exception) -> Response:
    status_code, message = failure(e)
    return editor_page(request, principal, workflow_id, trigger_message=message,
                       status_code=status_code)  # fmt: skip


@router.post("/workflows/{workflow_id}/schedules", response_class=HTMLResponse)
def create_schedule(
    request: Request, workflow_id: UUID, principal: Manager, cron: Cron = "",
    timezone: Zone = "UTC", overlap: Policy = "skip", catchup: Policy = "none", input: Json = "",
) -> Response:  # fmt: skip
    """A schedule (``POST /v1/workflows/{id}/schedules``); problems are shown on the page."""
    try:
        body = ScheduleCreate(cron=cron.strip(), timezone=timezone.strip() or "UTC",
                              input=json_text(input, "/input"), overlap=overlap,
                              catchup=catchup)  # fmt: skip
        create_schedule_route(workflow_id, body, principal, container_of(request), Response())
    except FAILURES as e:
        return _failed(request, principal, workflow_id, e)
    return _to(workflow_id, "schedules")


@router.post("/workflows/{workflow_id}/schedules/{schedule_id}/{action}",
             response_class=HTMLResponse)  # fmt: skip
def change_schedule(
    request: Request, workflow_id: UUID, schedule_id: UUID, action: str, principal: Manager,
    version: Version,
) -> Response:  # fmt: skip
    """Pause, resume (``PATCH /v1/schedules/{id}``) or delete one, with ``If-Match`` = the
    version the page showed: a schedule changed since is a conflict shown on the page."""
    if action not in (*SCHEDULE_ACTIONS, "delete"):
        raise NotFoundError("page", action)
    container = container_of(request)
    shown = get_schedule(schedule_id, principal, container, Response())  # another tenant's: 404
    if shown.workflow_id != workflow_id:
        raise NotFoundError("schedule", schedule_id)
    try:
        if action == "delete":
            delete_schedule(schedule_id, principal, container, version)
        else:
            patch = SchedulePatch(status=SCHEDULE_ACTIONS[action])
            update_schedule(schedule_id, patch, principal, container, Response(), version)
    except FAILURES as e:
        return _failed(request, principal, workflow_id, e)
    return _to(workflow_id, "schedules")


@router.post("/workflows/{workflow_id}/hooks", response_class=HTMLResponse)
def add_hook(
    request: Request, workflow_id: UUID, principal: Manager, mapping: Mapping = ""
) -> Response:
    """A hook (``POST /v1/workflows/{id}/hooks``): the page that answers is the only one that
    shows its secret, with its URL and a signing example."""
    try:
        created = create_hook(workflow_id, HookCreate(mapping=mapping.strip() or None),
                              principal, container_of(request), request, Response())  # fmt: skip
    except FAILURES as e:
        return _failed(request, principal, workflow_id, e)
    shown = {"id": created.id, "url": created.url, "secret": created.secret,
             "example": signing_example(created.url, created.secret)}  # fmt: skip
    return editor_page(request, principal, workflow_id, new_hook=shown, status_code=201)


@router.post("/workflows/{workflow_id}/hooks/{hook_id}/delete", response_class=HTMLResponse)
def remove_hook(request: Request, workflow_id: UUID, hook_id: UUID, principal: Manager) -> Response:
    """Delete a hook (``DELETE /v1/hooks/{id}``): its deliveries are refused from now on."""
    container = container_of(request)
    hook = container.platform.get_hook(tenant_of(principal), hook_id)  # another tenant's: 404
    if str(hook.workflow_id) != str(workflow_id):
        raise NotFoundError("hook", hook_id)
    delete_hook(hook_id, principal, container)
    return _to(workflow_id, "hooks")
