"""Rendering a console page: the Jinja2 environment and what every page's layout needs."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse

from api.auth import Principal
from api.console.session import csrf_token

HERE = Path(__file__).parent
HTMX = "htmx-2.0.4.min.js"
"""The pinned htmx build shipped in ``static/`` (its SHA-256 is checked by a test)."""

env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html", "svg"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _when(value: datetime | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return value.strftime("%Y-%m-%d %H:%M:%S")


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)


env.filters["when"] = _when
env.filters["pretty"] = _pretty


def render(
    request: Request,
    name: str,
    principal: Principal | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A page (or a partial, named ``_*.html``) for this principal."""
    from api.console.approvals import approvals_count

    if principal is not None and principal.kind != "platform_admin":
        context.setdefault("nav_approvals", approvals_count(request, principal))
    context.setdefault("nav_approvals", 0)
    html = env.get_template(name).render(
        request=request,
        principal=principal,
        csrf=csrf_token(principal.token) if principal else "",
        htmx=HTMX,
        path=request.url.path,
        **context,
    )
    return HTMLResponse(html, status_code=status_code)
