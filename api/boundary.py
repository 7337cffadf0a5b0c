"""The one input boundary: every request's path, query, headers and body pass it first.

Cheap checks first, before authentication or any domain work: the body's size (its declared
``Content-Length``, then what actually arrives), the query string and the headers; then a JSON
body is parsed once, with bounded nesting and integer size, and every string in it is checked;
a large one off the event loop. The parsed body is kept for the route (``parsed_json_body``):
a definition of 10,000 steps is not parsed and checked a second time.
YAML bodies and definitions given as text are parsed by the routes (``api/bodies.py``) and
their values pass ``check_value`` here. What fails is a 413 or 422 problem+json, never a 500,
and no command has run. See docs/security.md, "Input limits".
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import ProblemError, problem
from domain.kernel.pointers import escape as _escape

MAX_DEPTH = 64
"""Deepest nesting of arrays/objects in a JSON or YAML value."""
MAX_INT_DIGITS = 19
"""An integer literal of more digits is refused before ``int()`` is called on it."""
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
"""Integers in a body must fit PostgreSQL ``bigint``."""
MAX_QUERY_BYTES = 8192
"""The whole query string, percent-encoded."""
LARGE_BODY = 64 * 1024
"""A JSON body larger than this is parsed and checked in a worker thread, not on the event loop
(other requests' responses go on meanwhile)."""
_PARSED = "platinum.json_body"
"""The scope ``state`` key under which the boundary keeps the JSON body it parsed."""

_ASCII_DIGITS = re.compile(r"[0-9]+")
_JSON_TYPES = ("application/json",)


class InputError(ValueError):
    """A value the boundary refuses; ``pointer`` says where."""

    def __init__(self, pointer: str, message: str) -> None:
        super().__init__(message)
        self.pointer, self.message = pointer, message


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text, or None (C-speed: ``in`` and ``encode``)."""
    if "\x00" in value:
        return "must not contain NUL characters"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "must not contain lone surrogates (not UTF-8 text)"
    return None


def ascii_int(value: str) -> int | None:
    """``value`` as a non-negative integer when it is 1-19 ASCII digits within 64 bits, else
    None.

    ``str.isdigit()`` also accepts '²' or Arabic-Indic digits, which ``int()`` then refuses or
    reads: every place that parses digits from a request uses this instead.
    """
    if len(value) > MAX_INT_DIGITS or not _ASCII_DIGITS.fullmatch(value):
        return None
    number = int(value)
    return number if number <= INT_MAX else None


def check_value(value: Any, pointer: str = "") -> None:
    """Refuse NUL/lone surrogates in strings and keys, nesting deeper than ``MAX_DEPTH``,
    integers outside bigint, and non-finite numbers. Iterative: any depth is safe to walk."""
    stack: list[tuple[Any, str, int]] = [(value, pointer, 0)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, str):
            why = text_problem(item)
            if why:
                raise InputError(where, why)
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if not INT_MIN <= item <= INT_MAX:
                raise InputError(where, "is an integer out of range (64-bit)")
        elif isinstance(item, float):
            if item != item or item in (float("inf"), float("-inf")):
                raise InputError(where, "must be a finite number")
            if item.is_integer() and not INT_MIN <= item <= INT_MAX:
                # JSON Schema calls 1e300 an integer (no fractional part), and the document
                # bounds integers to 64 bits: a whole number out of range, whatever its spelling
                raise InputError(where, "is an integer out of range (64-bit)")
        elif isinstance(item, dict | list):
            if depth >= MAX_DEPTH:
                raise InputError(where, f"is nested deeper than {MAX_DEPTH} levels")
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            for k, v in pairs:
                here = f"{where}/{_escape(k)}"
                if isinstance(k, str) and (why := text_problem(k)):
                    raise InputError(here, f"key {why}")
                stack.append((v, here, depth + 1))


def invalid_input(err: InputError, where: str = "") -> ProblemError:
    pointer = where + (err.pointer or ("" if where else "/"))
    return ProblemError(
        422,
        "The request is not valid; see errors.",
        errors=[{"pointer": pointer, "message": err.message}],
    )


def _parse_int(literal: str) -> int:
    if len(literal.lstrip("-")) > MAX_INT_DIGITS:  # before int(): 5,000 digits cost and raise
        raise InputError("", "has an integer out of range (64-bit)")
    return int(literal)


def _no_constant(name: str) -> Any:
    raise InputError("", f"{name} is not JSON")


def parse_json(raw: bytes | str) -> Any:
    """JSON text → data, bounded: nesting, integer size, no NaN/Infinity, clean strings."""
    try:
        text = raw.decode() if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        raise InputError("", "the body is not UTF-8 text") from None
    try:
        data = json.loads(text, parse_int=_parse_int, parse_constant=_no_constant)
    except RecursionError:
        raise InputError("", f"is nested deeper than {MAX_DEPTH} levels") from None
    except json.JSONDecodeError as e:
        raise InputError("", f"the body is not valid JSON: {e}") from None
    check_value(data)
    return data


async def parse_json_off_loop(raw: bytes | str) -> Any:
    """``parse_json``, in a worker thread when ``raw`` is larger than ``LARGE_BODY``."""
    if len(raw) > LARGE_BODY:
        return await run_in_threadpool(parse_json, raw)
    return parse_json(raw)


NOT_PARSED = object()


def parsed_json_body(scope: Scope) -> Any:
    """The JSON body the boundary parsed and checked for this request, else ``NOT_PARSED``
    (no body, or not a JSON media type)."""
    return scope.get("state", {}).get(_PARSED, NOT_PARSED)


def _is_json(headers: list[tuple[bytes, bytes]]) -> bool:
    """A JSON media type, or none at all (FastAPI may then read the body as JSON)."""
    for key, value in headers:
        if key == b"content-type":
            media = value.decode("latin-1").split(";")[0].strip().lower()
            return media in _JSON_TYPES or media.endswith("+json")
    return True


class InputBoundary:
    """Pure ASGI middleware: size, query, headers and JSON bodies (see the module doc)."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            self._check_head(scope)
        except ProblemError as e:
            await self._answer(scope, receive, send, e)
            return
        headers = list(scope.get("headers", ()))
        declared = next((v for k, v in headers if k == b"content-length"), None)
        if declared is None and not any(k == b"transfer-encoding" for k, _ in headers):
            await self.app(scope, receive, send)  # no body (GET, most others)
            return
        try:
            body = await self._read_body(receive, declared)
            if body and _is_json(headers):
                scope.setdefault("state", {})[_PARSED] = await parse_json_off_loop(body)
        except ProblemError as e:
            await self._answer(scope, receive, send, e)
            return
        except InputError as e:
            await self._answer(scope, receive, send, invalid_input(e))
            return
        await self.app(scope, _replay(body, receive), send)

    def _too_large(self) -> ProblemError:
        return ProblemError(
            413,
            f"The request body is larger than {self.max_body_bytes} bytes.",
            type_="content-too-large",
        )

    async def _read_body(self, receive: Receive, declared: bytes | None) -> bytes:
        if declared is not None:
            text = declared.decode("latin-1").strip()
            length = ascii_int(text)
            if length is None and not _ASCII_DIGITS.fullmatch(text):
                raise ProblemError(400, "Content-Length is not a number.")
            if length is None or length > self.max_body_bytes:  # None: beyond 64 bits
                raise self._too_large()  # before reading a byte of it
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise self._too_large()  # a stream that lied about (or had no) length
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    @staticmethod
    def _check_head(scope: Scope) -> None:
        if "\x00" in scope.get("path", ""):
            raise ProblemError(404, "Not found.")
        raw_query: bytes = scope.get("query_string", b"")
        if len(raw_query) > MAX_QUERY_BYTES:
            raise ProblemError(
                414, f"The query string is longer than {MAX_QUERY_BYTES} bytes.",
                type_="uri-too-long",
            )  # fmt: skip
        if raw_query:
            for part in raw_query.replace(b"+", b" ").split(b"&"):
                name, _, value = part.partition(b"=")
                for piece in (name, value):
                    try:
                        decoded = unquote_to_bytes(piece).decode()
                    except UnicodeDecodeError:
                        raise _query_problem(name, "is not UTF-8 text") from None
                    if "\x00" in decoded:
                        raise _query_problem(name, "must not contain NUL characters")
        for key, value in scope.get("headers", ()):
            if b"\x00" in value:
                raise ProblemError(400, f"Header {key.decode('latin-1')!r} contains NUL.")

    @staticmethod
    async def _answer(scope: Scope, receive: Receive, send: Send, e: ProblemError) -> None:
        response = problem(
            e.status, e.detail, type_=e.type_, errors=e.errors, headers=e.headers,
            instance=scope.get("path"),
        )  # fmt: skip
        await response(scope, receive, send)


def _query_problem(name: bytes, message: str) -> ProblemError:
    try:
        shown = unquote_to_bytes(name).decode().replace("\x00", "")
    except UnicodeDecodeError:
        shown = "?"
    return ProblemError(
        422,
        "The request is not valid; see errors.",
        errors=[{"pointer": f"#query/{_escape(shown)}", "message": message}],
    )


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body read once, handed to the app as one message; then the real channel (so a
    streaming response still hears the client disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
