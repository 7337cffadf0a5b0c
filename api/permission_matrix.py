"""The route → permission → lowest role table, read from the app itself.

Every route declares its permission with a dependency carrying a ``permission`` attribute
(``api.auth.require``/``require_user``/``require_platform_admin``); routes with none are public.
``docs/api.md`` embeds ``markdown_table(app)`` and a test checks they match
(regenerate with ``python -m api.permission_matrix``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from api.auth import PLATFORM_ADMIN
from domain.identity.permissions import PERMISSIONS

PUBLIC = "public"
SIGNATURE = "hook:signature"
"""Pseudo-permission of a webhook delivery: no bearer token, the request's HMAC signature
under the hook's secret is the credential (``api/routes/hooks.py``); anyone else gets 401."""


def signature_credential() -> None:
    """Marks a route whose credential is a signature it checks itself (see ``SIGNATURE``)."""


signature_credential.permission = SIGNATURE  # type: ignore[attr-defined]


@dataclass(frozen=True)
class RouteRule:
    method: str
    path: str
    permission: str  # a domain permission, ``platform:admin`` or ``public``
    user_only: bool  # API keys are refused even when their role holds the permission
    platform_admin_too: bool = False  # the platform admin is let through as well

    @property
    def lowest_role(self) -> str:
        if self.permission == PUBLIC:
            return "anyone"
        if self.permission == PLATFORM_ADMIN:
            return "platform admin"
        if self.permission == SIGNATURE:
            return "anyone holding the hook's secret (no bearer token)"
        return PERMISSIONS[self.permission][0]


def _declared(dependant: Any) -> list[Any]:
    found = []
    for dep in dependant.dependencies:
        if hasattr(dep.call, "permission"):
            found.append(dep.call)
        found += _declared(dep)
    return found


def route_rules(app: FastAPI) -> list[RouteRule]:
    """One rule per (method, path) of the app's API routes, in path order."""
    rules = []
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute):
            continue  # openapi.json, docs: public by nature
        declared = _declared(route.dependant)
        permissions = {d.permission for d in declared}
        if len(permissions) > 1:
            raise ValueError(f"{route.path} declares several permissions: {permissions}")
        permission = permissions.pop() if permissions else PUBLIC
        user_only = any(getattr(d, "user_only", False) for d in declared)
        admin_too = any(getattr(d, "platform_admin_too", False) for d in declared)
        for method in sorted(set(route.methods or ()) - {"HEAD", "OPTIONS"}):
            rules.append(RouteRule(method, str(route.path), permission, user_only, admin_too))
    return sorted(rules, key=lambda r: (r.path, r.method))


def markdown_table(app: FastAPI) -> str:
    lines = [
        "| route | permission | lowest role |",
        "| --- | --- | --- |",
    ]
    for r in route_rules(app):
        role = r.lowest_role + (" (user session, not an API key)" if r.user_only else "")
        role += " or platform admin" if r.platform_admin_too else ""
        lines.append(f"| `{r.method} {r.path}` | `{r.permission}` | {role} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover
    from unittest.mock import MagicMock

    from api.app import create_app

    print(markdown_table(create_app(MagicMock())), end="")  # noqa: T201
