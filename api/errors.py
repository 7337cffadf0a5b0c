"""RFC 9457 problem+json for every error, with a stable ``type`` per kind of problem."""

from __future__ import annotations

import logging
import re
from typing import Any

import psycopg
from eventsourcing import persistence as es_persistence
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.middleware import REQUEST_ID_HEADER, request_id, security_headers
from domain.kernel.errors import (
    ConflictError,
    DomainError,
    NotFoundError,
    PermissionDeniedError,
    StaleVersionError,
    ValidationError,
)
from domain.kernel.pointers import escape
from engine.errors import EngineError

log = logging.getLogger(__name__)

PROBLEM_BASE = "https://platinum.dev/problems/"
MEDIA_TYPE = "application/problem+json"

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    412: "Precondition failed",
    413: "Content too large",
    414: "URI too long",
    415: "Unsupported media type",
    422: "Invalid input",
    428: "Precondition required",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}
_TYPES = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    412: "precondition-failed",
    413: "content-too-large",
    414: "uri-too-long",
    415: "unsupported-media-type",
    422: "validation",
    428: "precondition-required",
    429: "rate-limited",
    500: "internal",
    503: "unavailable",
}


RETRY_AFTER_S = 2
"""The ``Retry-After`` of a 503: the pools re-connect at once when the database is back."""

# No connection could be had (pool timeout, refused, reset) or it died under the request.
UNAVAILABLE: tuple[type[Exception], ...] = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    es_persistence.OperationalError,
    es_persistence.InterfaceError,
)


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it was raised from) says the database cannot be reached."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, UNAVAILABLE):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class ProblemError(Exception):
    """An HTTP-level problem raised by the API layer itself."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        type_: str | None = None,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.type_ = type_ or _TYPES.get(status, "error")
        self.errors = errors
        self.headers = headers


_UNENCODABLE = re.compile("[\x00\ud800-\udfff]")


def _printable(value: Any) -> Any:
    """Strings as UTF-8 can carry them: a pointer or message may quote the refused input
    (a key with a lone surrogate), and the answer must still encode."""
    if isinstance(value, str):
        return _UNENCODABLE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_printable(v) for v in value]
    if isinstance(value, dict):
        return {_printable(k): _printable(v) for k, v in value.items()}
    return value


def problem(
    status: int,
    detail: str,
    *,
    type_: str | None = None,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    instance: str | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + (type_ or _TYPES.get(status, "error")),
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": _printable(detail),
    }
    if instance:
        body["instance"] = _printable(instance)
    if errors is not None:
        body["errors"] = _printable(errors)
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


DOMAIN_STATUS: tuple[tuple[type[DomainError], int], ...] = (
    (ValidationError, 422),
    (NotFoundError, 404),
    (StaleVersionError, 412),  # a ConflictError: listed before it
    (ConflictError, 409),  # TransitionError and the other state conflicts too
    (PermissionDeniedError, 403),
    (DomainError, 422),  # any other refusal of the input
)
"""The HTTP status of a domain error: the first class here it is an instance of."""


def domain_status(exc: DomainError) -> int:
    return next(status for cls, status in DOMAIN_STATUS if isinstance(exc, cls))


def _pointer(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        where = parts.pop(0)
        prefix = "" if where == "body" else f"#{where}"
    else:
        prefix = ""
    escaped = [escape(p) for p in parts]
    return prefix + ("/" + "/".join(escaped) if escaped else "")


def install_error_handlers(app: FastAPI) -> None:
    """One handler per root error class: the API's own, the domain's, the engine's, the
    framework's, the database's (503) and anything else (500)."""

    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        return problem(
            exc.status,
            exc.detail,
            type_=exc.type_,
            errors=exc.errors,
            headers=exc.headers,
            instance=request.url.path,
        )

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        errors = None
        if isinstance(exc, ValidationError):
            errors = [{"pointer": pointer, "message": m} for pointer, m in exc.problems]
        return problem(domain_status(exc), str(exc), errors=errors, instance=request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"pointer": _pointer(e.get("loc", ())), "message": str(e.get("msg", "invalid"))}
            for e in exc.errors()
        ]
        return problem(
            422, "The request is not valid; see errors.", errors=errors, instance=request.url.path
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else _TITLES.get(exc.status_code, "")
        return problem(
            exc.status_code,
            detail,
            headers=getattr(exc, "headers", None),
            instance=request.url.path,
        )

    async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable on %s %s: %s: %s", request.method, request.url.path,
                    type(exc).__name__, exc)  # fmt: skip
        return problem(
            503,
            "The database cannot be reached; try again shortly.",
            headers={"Retry-After": str(RETRY_AFTER_S)},
            instance=request.url.path,
        )

    for unavailable in UNAVAILABLE:
        app.add_exception_handler(unavailable, _unavailable)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        if database_unavailable(exc):  # wrapped by a layer in between
            return await _unavailable(request, exc)
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        response = problem(500, "An unexpected error occurred.", instance=request.url.path)
        # sent around the request middleware (Starlette's outermost layer): add its headers here
        for key, value in security_headers(request.url.scheme, request.url.path):
            response.headers[key.decode()] = value.decode()
        if (rid := request_id()) is not None:
            response.headers[REQUEST_ID_HEADER] = rid
        return response

    @app.exception_handler(EngineError)
    async def _engine(request: Request, exc: EngineError) -> JSONResponse:
        # the engine failing on the request path is ours, not the caller's: a 500, logged
        return await _unexpected(request, exc)
