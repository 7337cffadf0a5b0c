"""One pure ASGI middleware for every request: security headers, access log line, request
metrics; the request id is asgi-correlation-id's middleware, configured here (``request_ids``).

Pure ASGI rather than ``@app.middleware("http")``: Starlette's ``BaseHTTPMiddleware`` runs the
rest of the app in a task group with a memory stream per request; two of them were ~19% of the
API process's time under load (py-spy, docs/performance.md).
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from asgi_correlation_id import CorrelationIdMiddleware, correlation_id
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("platinum.http")

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")
"""A caller's X-Request-ID is kept when it looks like an id (it goes into every event's meta and
the audit log's bounded column); anything else gets a new one, and is neither echoed nor
logged."""


def valid_request_id(value: str) -> bool:
    return _REQUEST_ID.fullmatch(value) is not None


def new_request_id() -> str:
    return uuid.uuid4().hex


def request_ids(app: ASGIApp) -> CorrelationIdMiddleware:
    """asgi-correlation-id's middleware with our rule: a caller's ``X-Request-ID`` is kept when
    it is `valid_request_id`, else replaced (in the request's headers too) by `new_request_id`;
    the id is returned on every answer that passes through it (405 and 413 included; a 500 is
    sent outside it, so ``api.errors`` adds it) and set in ``correlation_id``, the context
    variable ``api.logs`` puts in every line logged while the request is served."""
    return CorrelationIdMiddleware(
        app, header_name=REQUEST_ID_HEADER, generator=new_request_id, validator=valid_request_id
    )


def request_id() -> str | None:
    """The id of the request being served (None outside one)."""
    return correlation_id.get()


# For a server-rendered console: its own scripts, styles and images only (no inline script, no
# inline style: htmx's indicator styles must be turned off), fetch/SSE to itself, never framed.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none';"
    " form-action 'self'; frame-ancestors 'none'"
)
# The interactive documentation (api/docs.py) loads Swagger UI and ReDoc from the service itself,
# started by files rather than inline scripts. ReDoc (styled-components) inserts <style>
# elements and builds its search worker from a blob: those two need 'unsafe-inline' styles and
# a blob: worker; scripts, fonts and fetches stay 'self'.
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline';"
    " img-src 'self' data:; font-src 'self'; worker-src 'self' blob:; connect-src 'self';"
    " object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
DOCS_PATHS = frozenset({"/docs", "/redoc", "/docs/oauth2-redirect"})
HSTS = "max-age=31536000"  # one year; sent only on a TLS connection (RFC 6797 7.2)
_COMMON = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
)


_HEADERS = {  # (documentation page, over TLS) -> headers; built once, not per request
    (docs, tls): (
        *_COMMON,
        (b"content-security-policy", (DOCS_CSP if docs else CSP).encode()),
        *(((b"strict-transport-security", HSTS.encode()),) if tls else ()),
    )
    for docs in (False, True)
    for tls in (False, True)
}


def security_headers(scheme: str, path: str) -> tuple[tuple[bytes, bytes], ...]:
    """The headers every response carries; HSTS only when the request came over TLS."""
    return _HEADERS[(path in DOCS_PATHS, scheme in ("https", "wss"))]


class ObserveRequests:
    """Puts the request id (``request_ids``, just outside) in ``request.state.request_id``;
    logs one JSON line per request when it ends (its ``ms``: the whole exchange, a stream included);
    counts requests and observes latency (to the response's start) by route *template*.
    Adds the security headers (``security_headers``) to every response. A 500 from an
    unhandled error is sent by Starlette's outer error middleware, around this one: its handler
    (``api.errors``) adds the security headers itself; the log line and the count have it."""

    def __init__(self, app: ASGIApp, requests: Counter, latency: Histogram) -> None:
        self.app = app
        self.requests = requests
        self.latency = latency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id() or new_request_id()  # None only without ``request_ids`` around
        scope.setdefault("state", {})["request_id"] = rid
        extra = security_headers(scope.get("scheme", "http"), scope.get("path", ""))
        started = time.perf_counter()
        status = 500

        answered: float | None = None

        async def send_with_id(message: Message) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start":
                status = message["status"]
                answered = time.perf_counter()
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}  # a route's own policy wins
                headers.extend(h for h in extra if h[0] not in present)
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            ended = time.perf_counter()
            elapsed = ended - started
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope["method"]
            self.requests.labels(method, route, str(status)).inc()
            # latency to the response's start: a stream (SSE, the audit export) counts its
            # time to first byte, not how long the client stayed
            self.latency.labels(method, route).observe((answered or ended) - started)
            log.info("request", extra={
                "request_id": rid, "method": method, "path": scope["path"], "status": status,
                "ms": round(elapsed * 1000, 2),
            })  # fmt: skip
