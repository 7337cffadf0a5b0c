"""A run page's links: its place in a run tree (parent, children, the run it reruns), what
started it (a schedule, a hook), and the forms of its link commands: rerun an ended run that
did not succeed, and send a signal to a step waiting for one."""

from __future__ import annotations

import secrets
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from starlette.responses import HTMLResponse

from api.auth import Principal
from api.console.run_view import load, waits
from api.console.session import allowed
from api.console.templating import render
from domain.runs.run import Run
from domain.runs.status import StepStatus

router = APIRouter()

Reader = Annotated[Principal, Depends(allowed("runs:read"))]
RERUNNABLE = ("failed", "cancelled")


def _children(detail: Any) -> list[dict[str, Any]]:
    return [{"id": c["id"], "status": str(c.get("status") or ""),
             "step": c["parent_step_id"], "index": c["parent_item_index"]}
            for c in detail.children]  # fmt: skip


def _rerun_form(principal: Principal, run: Run, order: list[str]) -> dict[str, Any] | None:
    """The rerun form's choices (None: no form): every step of the run's definition, the
    failed ones named as the default."""
    if run.status not in RERUNNABLE or not principal.can("runs:start"):
        return None
    failed = [sid for sid in order if (run.steps.get(sid) or {}).get("status") == StepStatus.FAILED]
    return {"steps": order, "failed": failed, "key": secrets.token_urlsafe(18)}


def links(principal: Principal, run: Run, detail: Any) -> dict[str, Any]:
    """What the page shows of the run's links, and the link forms this principal may use."""
    parent = run.parent or {}
    may_signal = principal.can("runs:start") and not run.is_done
    return {
        "parent_run_id": parent.get("run_id"),
        "parent_step": parent.get("step_id"),
        "rerun_of": run.rerun_of,
        "trigger": getattr(run, "trigger", None),
        "children": _children(detail),
        "rerun": _rerun_form(principal, run, list(detail.step_order)),
        "signals": waits(run, "signal") if may_signal else [],
    }


@router.get("/runs/{run_id}/links", response_class=HTMLResponse)
def run_links(run_id: UUID, request: Request, principal: Reader) -> HTMLResponse:
    """The links partial (redrawn when the live stream says the run's waits changed)."""
    run, (detail, _flow) = load(request, principal, run_id)
    return render(request, "_run_links.html", principal, run=run, **links(principal, run, detail))
