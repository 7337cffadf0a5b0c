"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import ContainerDep
from api.errors import RETRY_AFTER_S

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(container: ContainerDep) -> JSONResponse:
    """Readiness: the database answers; the projectors' lag, any projection stuck on an
    event (``stuck``: which event, since when; the API still serves, its reads are stale), and
    the events the projections parked (``parked``: counts; ``platinum projections retry``);
    ``components``: per background loop of this process, seconds since its last heartbeat
    (a loop past its limit makes the process unready).

    Never a 500: a database that cannot be reached within the pool timeout is a 503 with
    ``Retry-After``; the connections are pooled (an anonymous caller opens none of its own)."""
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
        try:
            checks["projections"], stuck = container.projection_status()
        except Exception as exc:  # the status needs the system role's connection
            ok = False
            checks["projections"] = f"error: {type(exc).__name__}"
            stuck = []
        # anyone may call /readyz: which event, not why (an error text may quote tenant data;
        # it is in projection_failures and the log, for operators)
        checks["stuck"] = [
            {"projection": f["projection"], "application": f["application"],
             "notification_id": f["notification_id"], "attempts": f["attempts"],
             "since": f["since"].isoformat()}
            for f in stuck
        ]  # fmt: skip
        # parked: events set aside so the others flow on (counts only, not tenants' data)
        try:
            checks["parked"] = [
                {"projection": p["projection"], "application": p["application"],
                 "events": p["events"], "aggregates": p["aggregates"], "tenants": p["tenants"],
                 "since": p["since"].isoformat()}
                for p in container.parked_events()
            ]  # fmt: skip
        except Exception as exc:  # a probe must never turn readiness into a 500
            ok = False
            checks["parked"] = f"error: {type(exc).__name__}"
    try:  # this process's background loops (worker, projectors): when each last went round
        from api.background import liveness

        components = liveness(container)
        checks["components"] = components
        if not all(c.get("ok", True) for c in components):
            ok = False
    except Exception as exc:  # a probe must never turn readiness into a 500
        checks["components"] = f"error: {type(exc).__name__}"
    return JSONResponse(
        {"status": "ready" if ok else "unavailable", "checks": checks},
        status_code=200 if ok else 503,
        headers=None if ok else {"Retry-After": str(RETRY_AFTER_S)},
    )
