"""The tenant admin's page: users (create or invite, role, deactivate) and API keys (the
secret shown once, revoke); each section shown to whoever may read it, its forms to whoever
may write, every command through the JSON route's own function."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Form, Request, Response
from starlette.responses import HTMLResponse

from api.auth import Principal, tenant_of
from api.console.admin_forms import FAILURES, back, failure
from api.console.session import allowed, container_of
from api.console.templating import render
from api.readdb import tenant_tx
from api.redact import redact_entry
from api.routes.api_keys import create_api_key, list_api_keys, revoke_api_key
from api.routes.marketplace import browse_skills, list_installations
from api.routes.roles import list_roles
from api.routes.users import create_user, list_users, set_user_roles, update_user
from api.schemas.identity import ApiKeyCreate, UserCreate, UserRolesSet, UserUpdate
from domain.identity.permissions import BUILTIN_ROLES
from projections.queries import config as config_read
from projections.queries.paging import PageRequest

router = APIRouter()

Member = Annotated[Principal, Depends(allowed("me:read"))]
UsersAdmin = Annotated[Principal, Depends(allowed("users:admin"))]
KeysAdmin = Annotated[Principal, Depends(allowed("api_keys:admin"))]
Role = Annotated[Literal["viewer", "user", "manager", "admin"], Form()]
Version = Annotated[int, Form(ge=1, le=2**31 - 1)]
Short = Annotated[str, Form(max_length=255)]
ALL = PageRequest(limit=500)


def admin_context(request: Request, principal: Principal) -> dict[str, Any]:
    """Each section this principal may read (None: not shown), through the routes' reads."""
    container = container_of(request)
    out: dict[str, Any] = dict.fromkeys(
        ("users", "api_keys", "installations", "skills", "config"), None
    )
    if principal.can("users:read"):
        out["users"] = list_users(principal, container, ALL).items
    out["role_choices"] = (
        list_roles(principal, container, ALL).items if principal.can("users:admin") else []
    )
    if principal.can("api_keys:admin"):
        out["api_keys"] = list_api_keys(principal, container, ALL).items
    if principal.can("installations:admin"):
        out["installations"] = list_installations(principal, container, ALL).items
    if principal.can("marketplace:read"):
        out["skills"] = browse_skills(principal, container, PageRequest(limit=100)).items
    if principal.can("config:admin"):
        with tenant_tx(container.read_pool, tenant_of(principal)) as conn:
            rows = config_read.entries(conn)
        out["config"] = [{**r, "value": redact_entry(r["key"], r["value"])} for r in rows]
    return out


def admin_page(
    request: Request, principal: Principal, status_code: int = 200, **extra: Any
) -> HTMLResponse:
    context = {"message": "", "section": "", "new_key": None, **extra}
    response = render(request, "admin.html", principal, status_code, roles=BUILTIN_ROLES,
                      **admin_context(request, principal), **context)  # fmt: skip
    if context["new_key"] is not None:
        response.headers["Cache-Control"] = "no-store"  # the secret is shown once
    return response


def _failed(request: Request, principal: Principal, section: str, e: Exception) -> HTMLResponse:
    status_code, message = failure(e)
    return admin_page(request, principal, status_code, message=message, section=section)


@router.get("/admin", response_class=HTMLResponse)
def admin_home(request: Request, principal: Member) -> HTMLResponse:
    """Users, API keys, skills and configuration: what this user's role may see."""
    return admin_page(request, principal)


@router.post("/admin/users", response_class=HTMLResponse)
def add_user(
    request: Request, principal: UsersAdmin, email: Short, name: Short, role: Role,
    password: Annotated[str, Form(max_length=1024)] = "", invite: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    """Create a user, or invite one (no password yet): ``POST /v1/users``."""
    try:
        body = UserCreate(email=email, name=name, role=role, password=password or None,
                          status="invited" if invite else "active")  # fmt: skip
        create_user(body, principal, container_of(request), Response())
    except FAILURES as e:
        return _failed(request, principal, "users", e)
    return back("users")


@router.post("/admin/users/{user_id}/role", response_class=HTMLResponse)
def set_role(
    request: Request, user_id: UUID, principal: UsersAdmin, role: Role, version: Version
) -> Response:
    """Change a user's built-in role (``PATCH /v1/users/{id}``, ``If-Match``)."""
    try:
        update_user(user_id, UserUpdate(role=role), principal, container_of(request),
                    Response(), version)  # fmt: skip
    except FAILURES as e:
        return _failed(request, principal, "users", e)
    return back("users")


@router.post("/admin/users/{user_id}/roles", response_class=HTMLResponse)
def assign_roles(
    request: Request, user_id: UUID, principal: UsersAdmin, version: Version,
    role_id: Annotated[list[UUID], Form(max_length=100)] = [],  # noqa: B006 - FastAPI copies it
) -> Response:  # fmt: skip
    """Replace the user's role assignments (``PUT /v1/users/{id}/roles``, ``If-Match``)."""
    try:
        set_user_roles(user_id, UserRolesSet(role_ids=role_id), principal,
                       container_of(request), Response(), version)  # fmt: skip
    except FAILURES as e:
        return _failed(request, principal, "users", e)
    return back("users")


@router.post("/admin/users/{user_id}/status", response_class=HTMLResponse)
def set_status(
    request: Request, user_id: UUID, principal: UsersAdmin, version: Version,
    status: Annotated[Literal["active", "inactive"], Form()],
) -> Response:  # fmt: skip
    """Deactivate (or reactivate) a user (``PATCH /v1/users/{id}``, ``If-Match``)."""
    try:
        update_user(user_id, UserUpdate(status=status), principal, container_of(request),
                    Response(), version)  # fmt: skip
    except FAILURES as e:
        return _failed(request, principal, "users", e)
    return back("users")


@router.post("/admin/api-keys", response_class=HTMLResponse)
def add_api_key(request: Request, principal: KeysAdmin, name: Short, role: Role) -> Response:
    """Create an API key (``POST /v1/api-keys``); this page is the only time its secret shows."""
    try:
        created = create_api_key(ApiKeyCreate(name=name, role=role), principal,
                                 container_of(request), Response())  # fmt: skip
    except FAILURES as e:
        return _failed(request, principal, "api-keys", e)
    return admin_page(request, principal, 201, new_key=created, section="api-keys")


@router.post("/admin/api-keys/{key_id}/revoke", response_class=HTMLResponse)
def revoke(request: Request, key_id: UUID, principal: KeysAdmin) -> Response:
    """Revoke an API key (``DELETE /v1/api-keys/{id}``): it stops working at once."""
    revoke_api_key(key_id, principal, container_of(request))
    return back("api-keys")
