"""Who is calling: a login session token, an API key, or the platform admin token.

Every route declares the permission it needs with ``require("perm")``; the role → permission
matrix is ``domain.identity.permissions.PERMISSIONS`` (one place in code, one table in
docs/events.md).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated
from uuid import UUID

from fastapi import Depends, Request

from api.composition import Container
from api.deps import ContainerDep, bearer_token, request_actor
from api.errors import ProblemError
from domain.identity.permissions import permissions_for_role
from domain.kernel.actor import Actor
from domain.kernel.errors import AuthenticationError

UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of one request."""

    kind: str  # "user", "api_key" or "platform_admin"
    tenant_id: UUID | None
    user_id: UUID | None
    api_key_id: UUID | None
    role: str
    permissions: frozenset[str]
    actor: Actor
    token: str = field(repr=False, default="")

    def can(self, permission: str) -> bool:
        return permission in self.permissions

    @property
    def subject(self) -> str:
        return str(self.user_id or self.api_key_id or "platform-admin")


def _unauthorized() -> ProblemError:
    return ProblemError(401, "The credential is missing, invalid or expired.", headers=UNAUTHORIZED)


def authenticate(request: Request, container: ContainerDep) -> Principal:
    """Resolve the bearer token; any failure is the same 401."""
    return principal_for_token(bearer_token(request), request, container)


def principal_for_token(token: str, request: Request, container: Container) -> Principal:
    """Who holds ``token`` (a session, an API key or the admin token); else the one 401.
    The console resolves its session cookie through this too."""
    platform = container.platform
    admin_token = container.settings.resolved_admin_token()
    if secrets.compare_digest(token.encode(), admin_token.encode()):
        return Principal(
            kind="platform_admin",
            tenant_id=None,
            user_id=None,
            api_key_id=None,
            role="platform_admin",
            permissions=frozenset(),
            actor=request_actor(request, kind="platform_admin", user_id="platform-admin"),
            token=token,
        )
    try:
        _session, user = platform.resolve_session(token)
    except AuthenticationError:
        pass
    else:
        tenant = platform.get_tenant(user.tenant_id)
        if not tenant.is_active:
            raise _unauthorized()
        return Principal(
            kind="user",
            tenant_id=user.tenant_id,
            user_id=user.id,
            api_key_id=None,
            role=user.role,
            permissions=platform.effective_permissions(user),
            actor=request_actor(
                request, kind="user", user_id=str(user.id), tenant_id=str(user.tenant_id)
            ),
            token=token,
        )
    try:
        key = platform.resolve_api_key(token)
    except AuthenticationError:
        raise _unauthorized() from None
    tenant = platform.get_tenant(key.tenant_id)
    if not tenant.is_active:
        raise _unauthorized()
    role = platform.api_key_role(key)  # capped at its creator's current role
    return Principal(
        kind="api_key",
        tenant_id=key.tenant_id,
        user_id=None,
        api_key_id=key.id,
        role=role,
        permissions=permissions_for_role(role),
        actor=request_actor(
            request, kind="api_key", user_id=f"api-key:{key.id}", tenant_id=str(key.tenant_id)
        ),
        token=token,
    )


def still_holds(
    principal: Principal, permission: str, request: Request, container: Container
) -> bool:
    """Whether ``principal``'s credential still resolves, to the same tenant, with ``permission``:
    a long-lived answer (an event stream) ends when its session ends, its key is revoked, its
    tenant is suspended or its role no longer holds the permission."""
    try:
        now = principal_for_token(principal.token, request, container)
    except ProblemError:
        return False
    return now.tenant_id == principal.tenant_id and now.can(permission)


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]


def require(permission: str) -> Callable[..., Principal]:
    """A dependency: the caller must be a tenant principal holding ``permission`` (else 403)."""

    def dependency(principal: CurrentPrincipal) -> Principal:
        if principal.tenant_id is None or not principal.can(permission):
            raise ProblemError(403, f"This action needs the permission {permission!r}.")
        return principal

    dependency.permission = permission  # type: ignore[attr-defined]
    return dependency


PLATFORM_ADMIN = "platform:admin"
"""Pseudo-permission of the deploy-time platform admin credential (not a tenant role's)."""


def require_platform_admin(principal: CurrentPrincipal) -> Principal:
    """A dependency: the caller must be the platform admin (a tenant credential gets 403)."""
    if principal.kind != "platform_admin":
        raise ProblemError(403, "This action needs the platform admin credential.")
    return principal


require_platform_admin.permission = PLATFORM_ADMIN  # type: ignore[attr-defined]


def require_or_platform_admin(permission: str) -> Callable[..., Principal]:
    """Like ``require`` but the platform admin is let through as well (e.g. browsing skills)."""

    def dependency(principal: CurrentPrincipal) -> Principal:
        if principal.kind == "platform_admin":
            return principal
        if principal.tenant_id is None or not principal.can(permission):
            raise ProblemError(403, f"This action needs the permission {permission!r}.")
        return principal

    dependency.permission = permission  # type: ignore[attr-defined]
    dependency.platform_admin_too = True  # type: ignore[attr-defined]
    return dependency


def require_user(permission: str) -> Callable[..., Principal]:
    """Like ``require`` but the caller must be a user session (an API key is 403)."""
    inner = require(permission)

    # a default, not Annotated: the closure's ``inner`` is invisible to string annotations
    def dependency(principal: Principal = Depends(inner)) -> Principal:
        if principal.kind != "user":
            raise ProblemError(403, "This action needs a user session, not an API key.")
        return principal

    dependency.permission = permission  # type: ignore[attr-defined]
    dependency.user_only = True  # type: ignore[attr-defined]
    return dependency


PlatformAdminPrincipal = Annotated[Principal, Depends(require_platform_admin)]


def tenant_of(principal: Principal) -> UUID:
    assert principal.tenant_id is not None
    return principal.tenant_id


def user_of(principal: Principal) -> UUID:
    """The calling user's id (routes using it declare ``require_user``: API keys get 403)."""
    if principal.user_id is None or principal.tenant_id is None:
        raise ProblemError(403, "This resource belongs to a user: log in as one.")
    return principal.user_id
