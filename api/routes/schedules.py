"""Schedules: create and list a workflow's, read, change (pause/resume) and delete one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Response, status

from api.auth import Principal, require, tenant_of
from api.composition import Container
from api.deps import ContainerDep
from api.etag import IfMatchDep, set_etag
from api.pagination import Page, PageDep
from api.readdb import tenant_tx
from api.routes.workflows import read_workflow
from api.schemas.triggers import ScheduleCreate, SchedulePatch, SchedulePublic
from domain.kernel.actor import acting_as
from domain.kernel.errors import NotFoundError
from domain.triggers.commands import CreateSchedule, UpdateSchedule
from domain.triggers.cron import next_fire_times
from projections.queries import schedules as schedules_read

router = APIRouter(tags=["schedules"])

Manager = Annotated[Principal, Depends(require("triggers:manage"))]

NEXT_FIRE_TIMES = 5


def _public(row: dict[str, Any], now: datetime | None = None) -> SchedulePublic:
    upcoming: list[datetime] = []
    if row["status"] == "active":
        after = max(now or datetime.now(UTC), row["active_since"])
        upcoming = next_fire_times(row["cron"], row["timezone"], after, NEXT_FIRE_TIMES)
    return SchedulePublic(
        **{k: row[k] for k in SchedulePublic.model_fields if k != "next_fire_times"},
        next_fire_times=upcoming,
    )


def _read(container: Container, tenant_id: UUID, schedule_id: UUID) -> dict[str, Any]:
    with tenant_tx(container.read_pool, tenant_id) as conn:
        row = schedules_read.schedule(conn, schedule_id)
    if row is None:
        raise NotFoundError("schedule", schedule_id)
    return row


def _answer(
    container: Container, tenant_id: UUID, schedule_id: UUID, response: Response
) -> SchedulePublic:
    container.wait_caught_up()
    row = _read(container, tenant_id, schedule_id)
    set_etag(response, row["version"])
    return _public(row)


@router.post(
    "/v1/workflows/{workflow_id}/schedules",
    status_code=status.HTTP_201_CREATED,
    response_model=SchedulePublic,
)
def create_schedule(
    workflow_id: UUID,
    body: ScheduleCreate,
    principal: Manager,
    container: ContainerDep,
    response: Response,
) -> SchedulePublic:
    """Start runs of the workflow on a cron expression in a time zone."""
    tenant_id = tenant_of(principal)
    with acting_as(principal.actor):
        schedule = container.platform.create_schedule(
            CreateSchedule(
                tenant_id=tenant_id, workflow_id=workflow_id, cron=body.cron,
                timezone=body.timezone, input=body.input, overlap=body.overlap,
                catchup=body.catchup, created_by=principal.user_id,
            )
        )  # fmt: skip
    response.headers["Location"] = f"/v1/schedules/{schedule.id}"
    return _answer(container, tenant_id, schedule.id, response)


@router.get("/v1/workflows/{workflow_id}/schedules", response_model=Page[SchedulePublic])
def list_schedules(
    workflow_id: UUID, principal: Manager, container: ContainerDep, page: PageDep
) -> Page[SchedulePublic]:
    """The workflow's schedules, oldest first, each with its next fire times."""
    tenant_id = tenant_of(principal)
    read_workflow(container, tenant_id, workflow_id)  # 404 for a missing workflow
    with tenant_tx(container.read_pool, tenant_id) as conn:
        rows, next_cursor = schedules_read.list_schedules(conn, page, workflow_id=workflow_id)
    now = datetime.now(UTC)
    return Page(items=[_public(r, now) for r in rows], next_cursor=next_cursor)


@router.get("/v1/schedules/{schedule_id}", response_model=SchedulePublic)
def get_schedule(
    schedule_id: UUID, principal: Manager, container: ContainerDep, response: Response
) -> SchedulePublic:
    row = _read(container, tenant_of(principal), schedule_id)
    set_etag(response, row["version"])
    return _public(row)


@router.patch("/v1/schedules/{schedule_id}", response_model=SchedulePublic)
def update_schedule(
    schedule_id: UUID,
    body: SchedulePatch,
    principal: Manager,
    container: ContainerDep,
    response: Response,
    expected: IfMatchDep,
) -> SchedulePublic:
    """Change some fields; ``{"status": "paused"}`` pauses, ``"active"`` resumes (If-Match)."""
    tenant_id = tenant_of(principal)
    with acting_as(principal.actor):
        container.platform.update_schedule(
            UpdateSchedule(
                tenant_id=tenant_id, schedule_id=schedule_id,
                changes=body.model_dump(exclude_unset=True), expected_version=expected,
            )
        )  # fmt: skip
    return _answer(container, tenant_id, schedule_id, response)


@router.delete("/v1/schedules/{schedule_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_schedule(
    schedule_id: UUID, principal: Manager, container: ContainerDep, expected: IfMatchDep
) -> Response:
    """Delete the schedule: it starts no more runs (runs it started go on)."""
    with acting_as(principal.actor):
        container.platform.delete_schedule(
            tenant_of(principal), schedule_id, expected_version=expected
        )
    container.wait_caught_up()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
