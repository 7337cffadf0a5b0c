"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    """Readiness: the database answers; the projectors' lag, any projection stuck on an
    event (``stuck``: which event, since when; the API still serves, its reads are stale), and
    the events the projections parked (``parked``: counts; ``platinum projections retry``)."""
    container = request.app.state.container
    checks: dict[str, Any] = {}
    ok = True
    try:
        with container.read_pool.connection() as conn:
            conn.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:
        ok = False
        checks["database"] = f"error: {type(exc).__name__}"
    if ok:
        checks["projections"], stuck = container.projection_status()
        # anyone may call /readyz: which event, not why (an error text may quote tenant data;
        # it is in projection_failures and the log, for operators)
        checks["stuck"] = [
            {"projection": f["projection"], "application": f["application"],
             "notification_id": f["notification_id"], "attempts": f["attempts"],
             "since": f["since"].isoformat()}
            for f in stuck
        ]  # fmt: skip
        # parked: events set aside so the others flow on (counts only, not tenants' data)
        checks["parked"] = [
            {"projection": p["projection"], "application": p["application"],
             "events": p["events"], "aggregates": p["aggregates"], "tenants": p["tenants"],
             "since": p["since"].isoformat()}
            for p in container.parked_events()
        ]  # fmt: skip
    return JSONResponse(
        {"status": "ready" if ok else "unavailable", "checks": checks},
        status_code=200 if ok else 503,
    )
