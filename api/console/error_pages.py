"""The console's errors: the API's problem+json, shown as a page to a browser that navigated.

The handlers are the JSON API's own (``api.errors``), so statuses and texts are the same; a
request that asks for HTML (a page load or a form post, not an htmx swap or a script) gets
them as a page with the same status.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import Response

from api.console.templating import render

Handler = Callable[[Request, Any], Response | Awaitable[Response]]


def wants_page(request: Request) -> bool:
    if request.headers.get("hx-request") == "true":
        return False
    return "text/html" in request.headers.get("accept", "")


def _as_page(handler: Handler) -> Handler:
    async def page(request: Request, exc: Any) -> Response:
        given = handler(request, exc)
        answer = await given if inspect.isawaitable(given) else given
        if not wants_page(request) or answer.status_code < 400:
            return answer
        body: dict[str, Any] = json.loads(bytes(answer.body))
        response = render(
            request, "error.html", None, answer.status_code,
            title=body.get("title", "Error"), detail=body.get("detail", ""),
        )  # fmt: skip
        for name in ("retry-after", "www-authenticate"):
            if name in answer.headers:
                response.headers[name] = answer.headers[name]
        return response

    return page


def install(console: FastAPI) -> None:
    """Wrap every error handler installed so far (``api.errors``') with the page form."""
    for key, handler in list(console.exception_handlers.items()):
        console.exception_handlers[key] = _as_page(handler)
