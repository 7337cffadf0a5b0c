"""A run's events: the list so far, and the live server-sent event stream."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Annotated, Any
from uuid import UUID

import anyio
from fastapi import APIRouter, Depends, Header, Query, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from api.auth import Principal, require, still_holds, tenant_of
from api.bodies import invalid
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


LAST_EVENT_ID = r"[ \t]*([0-9]{1,18})?[ \t]*"
"""``Last-Event-ID``: an event's sequence number (or nothing: from the start), between optional
spaces or tabs; the header's documented pattern is this expression."""
_LAST_EVENT_ID = re.compile(LAST_EVENT_ID)


def _last_event_id(value: str | None) -> int | None:
    match = None if value is None else _LAST_EVENT_ID.fullmatch(value)
    if value is not None and match is None:
        raise invalid([("#header/last-event-id", "must be an event sequence number")])
    return None if match is None or match.group(1) is None else int(match.group(1))


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
    last_event_id: Annotated[
        str | None,
        Header(
            description="Resume after this event's sequence number (SSE reconnection).",
            json_schema_extra={"pattern": f"^{LAST_EVENT_ID}$"},
        ),
    ] = None,
    after: Annotated[
        int | None, Query(ge=0, le=2**63 - 1, description="Like Last-Event-ID.")
    ] = None,
) -> EventSourceResponse:
    """The run's events as server-sent events, live; the stream ends when the run has ended.

    Each event's ``id`` is its sequence number: reconnect with ``Last-Event-ID`` to resume.
    """
    start = _last_event_id(last_event_id)  # bad input is a 422 whatever the run
    runs = container.runs
    runs.get_run(tenant_of(principal), run_id)  # a foreign run is a 404
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
