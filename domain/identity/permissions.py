"""The permissions: the matrix of the four built-in roles, and what a custom role may hold.

``PERMISSIONS`` is the single source: each permission names the lowest built-in role that
holds it. Roles are ordered viewer < user < manager < admin and a role holds every permission
of the roles below it, so monotonicity holds by construction.
"""

from __future__ import annotations

from typing import Any, Final, cast

from domain.kernel import validators as v

BUILTIN_ROLES: Final = ("viewer", "user", "manager", "admin")
"""Built-in roles, lowest first."""

# permission -> (lowest role holding it, what it guards in http-api.md)
PERMISSIONS: Final[dict[str, tuple[str, str]]] = {
    "me:read": (
        "viewer",
        "GET /v1/me, POST /v1/auth/logout, GET /v1/users/{id}/personal-data (own)",
    ),
    "preferences:write": ("viewer", "GET/PUT/DELETE /v1/me/preferences/{key} (own)"),
    "notifications:read": ("viewer", "GET /v1/notifications, POST .../{id}/read (own)"),
    "conversations:write": ("viewer", "POST/GET /v1/conversations (own)"),
    "roles:read": ("viewer", "GET /v1/roles"),
    "workflows:read": ("viewer", "GET /v1/workflows, /{id}, /{id}/versions"),
    "runs:read": ("viewer", "GET /v1/runs, /{id}, /{id}/events, /{id}/events/stream"),
    "workflows:validate": ("user", "POST /v1/workflows/validate"),
    "runs:start": ("user", "POST /v1/workflows/{id}/runs"),
    "runs:cancel": ("user", "POST /v1/runs/{id}/cancel"),
    "marketplace:read": ("user", "GET /v1/marketplace/skills"),
    "marketplace:publish": ("user", "POST /v1/marketplace/skills"),
    "workflows:write": ("manager", "POST /v1/workflows, PUT .../definition, activate/pause/..."),
    "users:read": ("manager", "GET /v1/users, GET /v1/users/{id}"),
    "notifications:send": ("manager", "POST /v1/notifications"),
    "triggers:manage": ("manager", "POST/GET .../{id}/schedules, /hooks; /v1/schedules/{id}"),
    "runs:pause": ("manager", "POST /v1/runs/{id}/pause, POST /v1/runs/{id}/resume"),
    "users:admin": (
        "admin",
        "POST /v1/users, PATCH /v1/users/{id}, PUT /v1/users/{id}/roles, POST .../{id}/erase,"
        " GET .../{id}/personal-data",
    ),
    "api_keys:admin": ("admin", "POST/GET /v1/api-keys, DELETE /v1/api-keys/{id}"),
    "config:admin": ("admin", "GET/PUT /v1/config/{key}"),
    "installations:admin": ("admin", "POST/GET /v1/installations, PATCH/DELETE .../{id}"),
    "audit:read": ("admin", "GET /v1/audit/events, /verify, /export, /v1/history/..."),
}

ALL_PERMISSIONS: Final = tuple(PERMISSIONS)

BUILTIN_ROLE_DESCRIPTIONS: Final = {
    "viewer": "Read-only access to workflows and runs, plus own profile data.",
    "user": "Viewer, plus starting and cancelling runs and using the marketplace.",
    "manager": "User, plus authoring workflows, reading users and sending notifications.",
    "admin": "Every tenant permission: users, API keys, configuration, skills, audit.",
}


def role_rank(role: str) -> int:
    """Position of a built-in role (viewer 0 ... admin 3); -1 for anything else."""
    return BUILTIN_ROLES.index(role) if role in BUILTIN_ROLES else -1


def role_at_least(held: str, required: str) -> bool:
    """Whether built-in role ``held`` is ``required`` or above (admin satisfies manager)."""
    return role_rank(required) >= 0 and role_rank(held) >= role_rank(required)


def permissions_for_role(role: str) -> frozenset[str]:
    """Every permission a built-in role holds (empty for unknown roles)."""
    rank = role_rank(role)
    return frozenset(p for p, (lowest, _) in PERMISSIONS.items() if 0 <= role_rank(lowest) <= rank)



PERMISSIONS_SCHEMA: Final[dict[str, Any]] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "array",
    "items": {"type": "string", "enum": list(ALL_PERMISSIONS)},
    "uniqueItems": True,
}
"""What a custom role may list: distinct known permission names."""


def permission_list(value: Any, pointer: str = "/permissions") -> list[str]:
    """A custom role's permissions: a list of distinct known permission names."""
    return cast(list[str], v.conforms(PERMISSIONS_SCHEMA)(value, pointer))
