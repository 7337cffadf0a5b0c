"""A run page's live feed: server-sent events carrying the step statuses and new timeline
lines after each batch of the run's events (the API's stream, shaped for the page)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Annotated, Any
from uuid import UUID

import anyio
from fastapi import APIRouter, Depends, Query, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from api.auth import Principal, still_holds, tenant_of
from api.console.dag import step_states
from api.console.run_view import timeline_entry, wait_keys
from api.console.session import allowed, container_of
from api.routes.run_events import STREAM_POLL_S
from domain.runs.application import Runs

router = APIRouter()

Reader = Annotated[Principal, Depends(allowed("runs:read"))]


@router.get("/runs/{run_id}/live")
def live(
    run_id: UUID,
    request: Request,
    principal: Reader,
    after: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
) -> EventSourceResponse:
    """``state`` events after the page's last sequence; ``end`` once the run has ended."""
    container = container_of(request)
    runs = container.runs
    runs.get_run(tenant_of(principal), run_id)  # a foreign run is a 404
    still = partial(still_holds, principal, "runs:read", request, container)
    return EventSourceResponse(_follow(runs, run_id, request, after, still), ping=15)


def _snapshot(runs: Runs, run_id: UUID, seen: int) -> tuple[dict[str, Any] | None, bool]:
    """What changed after ``seen`` (None: nothing), and whether the run has ended."""
    events = list(runs.repository.event_store.get(run_id, gt=seen))
    run = runs.load(run_id)
    if not events:
        return None, run.is_done
    return {
        "sequence": events[-1].originator_version,
        "status": run.status,
        "steps": step_states(run.steps),
        "timeline": [timeline_entry(e) for e in events],
        "waiting": wait_keys(run),
    }, run.is_done


async def _follow(
    runs: Runs, run_id: UUID, request: Request, seen: int, still: Callable[[], bool]
) -> AsyncIterator[ServerSentEvent]:
    waiting: list[str] | None = None
    while True:
        change, done = await anyio.to_thread.run_sync(_snapshot, runs, run_id, seen)
        if change is not None and not await anyio.to_thread.run_sync(still):
            return  # the session ended (signed out, revoked) while the page was open
        if change is not None:
            seen = change["sequence"]
            # the page redraws its buttons and links when waits come or go, or the run ends
            now_waiting = change.pop("waiting")
            change["actions_changed"] = done or now_waiting != waiting
            waiting = now_waiting
            yield ServerSentEvent(data=json.dumps(change, default=str), event="state", id=str(seen))
            continue
        if done:
            yield ServerSentEvent(data="{}", event="end")
            return
        if await request.is_disconnected():
            return
        await anyio.sleep(STREAM_POLL_S)
