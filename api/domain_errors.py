"""Domain errors → problem+json. One handler per root error class."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from api.errors import problem

Handler = Callable[[Request, Any], Awaitable[JSONResponse]]


def _problems(exc: Any) -> list[dict[str, str]]:
    out = []
    for item in getattr(exc, "problems", None) or []:
        if isinstance(item, dict):
            out.append({"pointer": str(item.get("pointer", "")), "message": str(item["message"])})
        else:
            pointer, message = item if isinstance(item, tuple) else (item.pointer, item.message)
            out.append({"pointer": str(pointer), "message": str(message)})
    return out


def domain_error_handlers() -> dict[type[Exception], Handler]:
    from domain.kernel import errors as de

    async def validation(request: Request, exc: Any) -> JSONResponse:
        return problem(422, str(exc), errors=_problems(exc), instance=request.url.path)

    async def not_found(request: Request, exc: Any) -> JSONResponse:
        return problem(404, str(exc), instance=request.url.path)

    async def conflict(request: Request, exc: Any) -> JSONResponse:
        return problem(409, str(exc), instance=request.url.path)

    async def stale(request: Request, exc: Any) -> JSONResponse:
        return problem(412, str(exc), instance=request.url.path)

    async def denied(request: Request, exc: Any) -> JSONResponse:
        return problem(403, str(exc), instance=request.url.path)

    async def other(request: Request, exc: Any) -> JSONResponse:
        return problem(422, str(exc), instance=request.url.path)

    handlers: dict[type[Exception], Handler] = {de.DomainError: other}
    for name, handler in (
        ("ValidationError", validation),
        ("NotFoundError", not_found),
        ("ConflictError", conflict),
        ("TransitionError", conflict),
        ("StaleVersionError", stale),
        ("PermissionDeniedError", denied),
    ):
        cls = getattr(de, name, None)
        if cls is not None:
            handlers[cls] = handler
    return handlers
