"""A run's events: the list so far, and the live server-sent event stream."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Annotated, Any
from uuid import UUID

import anyio
from fastapi import APIRouter, Depends, Header, Query, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from api.auth import Principal, require, still_holds, tenant_of
from api.bodies import invalid
from api.boundary import ascii_int
from api.deps import ContainerDep
from api.schemas.runs import RunEventPublic, RunEventsPublic
from domain.runs.application import Runs
from projections.audit.projection import event_details
from projections.jsonutil import dumps

router = APIRouter(tags=["runs"])

Reader = Annotated[Principal, Depends(require("runs:read"))]
STREAM_POLL_S = 0.2


def _event_public(event: Any) -> RunEventPublic:
    return RunEventPublic(
        sequence=event.originator_version,
        type=type(event).__qualname__.split(".")[-1],
        time=event.timestamp,
        data=json.loads(dumps(event_details(event))),
    )


def _events_after(runs: Runs, run_id: UUID, after: int | None) -> list[RunEventPublic]:
    return [_event_public(e) for e in runs.repository.event_store.get(run_id, gt=after)]


def _last_event_id(value: str | None) -> int | None:
    if value is None or not value.strip():
        return None
    sequence = ascii_int(value.strip())
    if sequence is None:
        raise invalid([("#header/last-event-id", "must be an event sequence number")])
    return sequence


@router.get("/v1/runs/{run_id}/events", response_model=RunEventsPublic)
def list_run_events(run_id: UUID, principal: Reader, container: ContainerDep) -> RunEventsPublic:
    """The run's events, in order (read from the event store: complete up to now)."""
    container.runs.get_run(tenant_of(principal), run_id)  # a foreign run is a 404
    return RunEventsPublic(items=_events_after(container.runs, run_id, None))


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
    runs = container.runs
    runs.get_run(tenant_of(principal), run_id)  # a foreign run is a 404
    start = _last_event_id(last_event_id)
    still = partial(still_holds, principal, "runs:read", request, container)
    return EventSourceResponse(
        _follow(runs, run_id, request, after if start is None else start, still), ping=15
    )


async def _follow(
    runs: Runs, run_id: UUID, request: Request, seen: int | None, still: Callable[[], bool]
) -> AsyncIterator[ServerSentEvent]:
    """Every event after ``seen``, polling while the run lasts, the client listens and its
    credential still reads runs (``still``, asked before each batch is sent)."""
    while True:
        batch = await anyio.to_thread.run_sync(_events_after, runs, run_id, seen)
        if batch and not await anyio.to_thread.run_sync(still):
            return  # the session ended (or the key was revoked) while the stream was open
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
