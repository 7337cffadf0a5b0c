"""405 Method Not Allowed with a true ``Allow``, answered before any route (and so before
authentication) runs.

Starlette tries routes in order and, when none has the request's method, answers 405 from the
*first* route whose path matched, listing only that route's methods: ``OPTIONS /v1/workflows``
said ``Allow: POST`` although ``GET`` is there too. And a method a path does not have could
reach another route through a path parameter (``GET /v1/workflows/validate`` matched
``GET /v1/workflows/{workflow_id}`` and answered 401). This middleware decides from the route
table itself, the way OpenAPI reads paths: among the path templates that match, a literal
segment beats a parameter at the first place they differ; if that template has no route for
the method, the answer is 405 with every method the template has.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute, Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import problem

_PARAM = re.compile(r"^\{[^}]*\}$")


@dataclass(frozen=True)
class _Template:
    path: str
    regex: re.Pattern[str]
    rank: tuple[int, ...]  # per segment: 0 literal, 1 parameter (smaller is more specific)
    methods: frozenset[str]


def _rank(path: str) -> tuple[int, ...]:
    return tuple(1 if _PARAM.match(seg) else 0 for seg in path.strip("/").split("/"))


def build_templates(routes: list[BaseRoute]) -> tuple[list[_Template], list[str]]:
    """Each path template with the union of its routes' methods, and the mount prefixes (whose
    own apps answer for everything below them). FastAPI's routes do not answer HEAD for GET,
    so ``Allow`` does not list it either."""
    methods: dict[str, set[str]] = {}
    regexes: dict[str, re.Pattern[str]] = {}
    mounts: list[str] = []
    for route in iter_route_contexts(routes):  # included routers' routes with their prefixes
        if isinstance(route.original_route, Mount):
            mounts.append(route.path or "")
        elif route.path and route.methods:
            regexes.setdefault(route.path, route.path_regex)
            methods.setdefault(route.path, set()).update(route.methods)
    templates = [
        _Template(path, regexes[path], _rank(path), frozenset(m)) for path, m in methods.items()
    ]
    return templates, mounts


def allowed_methods(
    templates: list[_Template], mounts: list[str], path: str
) -> frozenset[str] | None:
    """The methods of the most specific template matching ``path``; None when no template
    matches or a mount owns the path (the router then answers as it always does)."""
    if any(path == m or path.startswith(m + "/") for m in mounts):
        return None
    matching = [t for t in templates if t.regex.match(path)]
    if not matching:
        return None
    return min(matching, key=lambda t: t.rank).methods


_CACHE_LIMIT = 4096


def _plain(segment: str) -> bool:
    """A literal, or a whole-segment ``{name}`` with the default convertor (any non-empty
    segment): not ``{id:uuid}``, not ``file.{ext}``."""
    if _PARAM.match(segment):
        return ":" not in segment
    return "{" not in segment


class AllowTable:
    """``allowed_methods`` remembered per path *shape*: each segment that is a literal of some
    template is kept, every other one stands for "a parameter". Every template's parameter
    matches any non-empty segment, so two paths of one shape match the same templates: the
    decision is computed once per shape (a scan of every template's regex, 10-20 µs measured)
    and then looked up. Bounded: past ``_CACHE_LIMIT`` shapes it starts again. Off (every path
    scanned) if a template's parameter is narrower than a segment (a typed convertor, a
    parameter inside a segment)."""

    def __init__(self, routes: list[BaseRoute]) -> None:
        self.templates, self.mounts = build_templates(routes)
        self.literals = frozenset(
            seg
            for t in self.templates
            for seg in t.path.strip("/").split("/")
            if not _PARAM.match(seg)
        )
        self.cacheable = all(
            _plain(seg) for t in self.templates for seg in t.path.strip("/").split("/")
        )
        self._decided: dict[tuple[str, ...], frozenset[str] | None] = {}

    def shape(self, path: str) -> tuple[str, ...]:
        return tuple(seg if seg in self.literals or not seg else "{}" for seg in path.split("/"))

    def allowed(self, path: str) -> frozenset[str] | None:
        if not self.cacheable or any(path == m or path.startswith(m + "/") for m in self.mounts):
            return allowed_methods(self.templates, self.mounts, path)
        key = self.shape(path)
        if key in self._decided:
            return self._decided[key]
        if len(self._decided) >= _CACHE_LIMIT:
            self._decided.clear()
        decided = self._decided[key] = allowed_methods(self.templates, self.mounts, path)
        return decided


class MethodNotAllowed:
    """Pure ASGI middleware: 405 + ``Allow`` (see the module doc); built lazily from the app's
    routes at the first request, when every router has been included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._table: AllowTable | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if self._table is None:
                self._table = AllowTable(scope["app"].routes)
            path, root = scope["path"], scope.get("root_path", "")
            if root and path.startswith(root):
                path = path[len(root) :]
            allowed = self._table.allowed(path)
            if allowed is not None and scope["method"] not in allowed:
                response = problem(
                    405,
                    f"{scope['method']} is not allowed here.",
                    headers={"Allow": ", ".join(sorted(allowed))},
                    instance=scope["path"],
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
