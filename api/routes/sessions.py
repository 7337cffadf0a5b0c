"""Login and logout: session tokens for tenant users."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status

from api.auth import UNAUTHORIZED, Principal, require_user
from api.composition import Container
from api.deps import ContainerDep, request_actor
from api.errors import ProblemError
from api.ratelimit import SharedLoginLimiter, login_limiter
from api.schemas.identity import LoginRequest, LoginResponse, RoleAssignmentPublic, UserPublic
from domain.identity.authentication import LoginResult
from domain.identity.commands import Login
from domain.identity.users import User
from domain.kernel.actor import acting_as
from domain.kernel.errors import AuthenticationError
from domain.platform import Platform

router = APIRouter(prefix="/v1/auth", tags=["auth"])

Limiter = Annotated[SharedLoginLimiter, Depends(login_limiter)]

_LOGIN_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Unknown tenant or user, wrong password, inactive user or tenant."},
    429: {"description": "Too many failed attempts for this account or address."},
}


def user_from_aggregate(platform: Platform, user: User) -> UserPublic:
    """A user straight from its aggregate (no read-model round trip)."""
    roles = []
    for a in user.role_assignments:
        try:
            name = platform.get_role(a["role_id"]).name
        except Exception:  # a role deleted since; the assignment still shows
            name = None
        roles.append(RoleAssignmentPublic(**a, name=name))
    return UserPublic(
        id=user.id,
        tenant_id=user.tenant_id,
        email=user.email,
        name=user.name,
        role=user.role,
        status=user.status,
        last_login=user.last_login,
        roles=roles,
        version=user.version,
        created_at=user.created_on,
        updated_at=user.modified_on,
    )


@router.post("/login", response_model=LoginResponse, responses=_LOGIN_RESPONSES)
def login(
    body: LoginRequest, request: Request, container: ContainerDep, limiter: Limiter
) -> LoginResponse:
    """Exchange tenant slug, email and password for a session token."""
    result = log_in(body, request, container, limiter)
    return LoginResponse(
        token=result.token,
        expires_at=result.session.expires_at,
        user=user_from_aggregate(container.platform, result.user),
    )


def log_in(
    body: LoginRequest, request: Request, container: Container, limiter: SharedLoginLimiter
) -> LoginResult:
    """A login, throttled and recorded: 401 for bad credentials, 429 when throttled (the
    console's sign-in form comes through here too)."""
    account = limiter.account_key(body.tenant, body.email)
    ip = request.client.host if request.client else "unknown"
    wait, attempt = limiter.attempt(account, ip)
    if attempt is None:
        raise ProblemError(
            429, "Too many failed login attempts; try again later.",
            headers={"Retry-After": str(wait)},
        )  # fmt: skip
    actor = request_actor(request, kind="anonymous")
    try:
        with acting_as(actor):
            result = container.platform.login(
                Login(
                    tenant_slug=body.tenant,
                    email=body.email,
                    password=body.password,
                    ttl=timedelta(seconds=container.settings.session_ttl_s),
                )
            )
    except AuthenticationError:  # the attempt stays counted as a failure
        with acting_as(actor):  # a security event of the tenant (never the typed secrets)
            container.platform.record_failed_login(body.tenant, body.email)
        raise ProblemError(401, "Invalid credentials.", headers=UNAUTHORIZED) from None
    except BaseException:  # an error on our side is not a wrong password
        limiter.abandoned(attempt)
        raise
    limiter.succeeded(account, attempt)
    return result


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
def logout(
    principal: Annotated[Principal, Depends(require_user("me:read"))], container: ContainerDep
) -> Response:
    """End the caller's session (the token stops working at once)."""
    with acting_as(principal.actor):
        container.platform.revoke_session(principal.token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
