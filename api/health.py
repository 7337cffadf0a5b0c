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
    """Readiness: the database answers; the projectors' lag, and any projection stuck on an
    event (``stuck``: which event, since when; the API still serves, its reads are stale);
    ``components``: per background loop of this process, seconds since its last heartbeat
    (a loop past its limit makes the process unready)."""
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
    try:  # this process's background loops (worker, projectors): when each last went round
        from api.services import liveness

        components = liveness(container)
        checks["components"] = components
        if not all(c.get("ok", True) for c in components):
            ok = False
    except Exception as exc:  # a probe must never turn readiness into a 500
        checks["components"] = f"error: {type(exc).__name__}"
    return JSONResponse(
        {"status": "ready" if ok else "unavailable", "checks": checks},
        status_code=200 if ok else 503,
    )
