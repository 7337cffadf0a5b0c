"""Users of the caller's tenant: admins create and change them, managers read them."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response, status

from api.audit_hooks import USER_PII_FIELDS, audit_sensitive_read
from api.auth import Principal, require
from api.deps import ContainerDep
from api.etag import IfMatchDep, check_if_match, set_etag
from api.pagination import Page, PageDep, fetch_page
from api.readdb import tenant_tx
from api.schemas.identity import (
    RoleAssignmentPublic,
    UserCreate,
    UserPublic,
    UserRolesSet,
    UserUpdate,
)
from domain.identity.commands import ChangePassword, RegisterUser, SetUserRoles, UpdateUser
from domain.kernel.actor import acting_as
from domain.kernel.errors import NotFoundError

router = APIRouter(prefix="/v1/users", tags=["users"])

UsersRead = Annotated[Principal, Depends(require("users:read"))]
UsersAdmin = Annotated[Principal, Depends(require("users:admin"))]

_ROLES_SQL = (
    "SELECT ur.user_id, ur.role_id, r.name, ur.assigned_at, ur.assigned_by"
    " FROM user_roles ur LEFT JOIN roles r ON r.id = ur.role_id"
    " WHERE ur.user_id = ANY(%s) ORDER BY ur.assigned_at, ur.role_id"
)


def _public(row: dict[str, Any], roles: list[dict[str, Any]]) -> UserPublic:
    return UserPublic(
        **{**row, "role": str(row["role"]), "status": str(row["status"])},
        roles=[RoleAssignmentPublic(**r) for r in roles],
    )


def read_users(conn: Any, rows: list[dict[str, Any]]) -> list[UserPublic]:
    """Attach each user's role assignments (one query for the page)."""
    by_user: dict[Any, list[dict[str, Any]]] = {row["id"]: [] for row in rows}
    if rows:
        for r in conn.execute(_ROLES_SQL, (list(by_user),)).fetchall():
            by_user[r.pop("user_id")].append(r)
    return [_public(row, by_user[row["id"]]) for row in rows]


def read_user(container: Any, tenant_id: UUID, user_id: UUID) -> UserPublic:
    """One user of ``tenant_id`` from the read model; another tenant's is a 404."""
    with tenant_tx(container.read_pool, tenant_id) as conn:
        row = conn.execute("SELECT * FROM users WHERE id = %s", (user_id,)).fetchone()
        if row is None:
            raise NotFoundError("user", user_id)
        return read_users(conn, [row])[0]


def _caught_up(container: Any) -> None:
    container.wait_caught_up()


@router.post("", status_code=status.HTTP_201_CREATED, response_model=UserPublic)
def create_user(
    body: UserCreate, principal: UsersAdmin, container: ContainerDep, response: Response
) -> UserPublic:
    """Create (or invite) a user in the caller's tenant."""
    tenant_id = principal.tenant_id
    assert tenant_id is not None
    with acting_as(principal.actor):
        user = container.platform.register_user(
            RegisterUser(tenant_id=tenant_id, **body.model_dump())
        )
    _caught_up(container)
    response.headers["Location"] = f"/v1/users/{user.id}"
    out = read_user(container, tenant_id, user.id)
    set_etag(response, out.version)
    return out


@router.get("", response_model=Page[UserPublic])
def list_users(
    principal: UsersRead,
    container: ContainerDep,
    page: PageDep,
    status_: Annotated[
        Literal["active", "inactive", "invited"] | None, Query(alias="status")
    ] = None,
    role: Annotated[Literal["admin", "manager", "user", "viewer"] | None, Query()] = None,
) -> Page[UserPublic]:
    """List the tenant's users, oldest first (filters: status, role)."""
    where: list[str] = []
    params: list[object] = []
    if status_ is not None:
        where.append("status = %s")
        params.append(status_)
    if role is not None:
        where.append("role = %s")
        params.append(role)
    with tenant_tx(container.read_pool, principal.tenant_id) as conn:
        rows, next_cursor = fetch_page(
            conn, "SELECT * FROM users", page, where=where, params=params
        )
        items = read_users(conn, rows)
    if items:
        audit_sensitive_read(
            container, principal, resource_type="user", resource_id="list", fields=USER_PII_FIELDS
        )
    return Page[UserPublic](items=items, next_cursor=next_cursor)


@router.get("/{user_id}", response_model=UserPublic)
def get_user(
    user_id: UUID, principal: UsersRead, container: ContainerDep, response: Response
) -> UserPublic:
    """Read one user (the read is recorded in the audit log)."""
    assert principal.tenant_id is not None
    out = read_user(container, principal.tenant_id, user_id)
    audit_sensitive_read(
        container, principal, resource_type="user", resource_id=user_id, fields=USER_PII_FIELDS
    )
    set_etag(response, out.version)
    return out


@router.patch("/{user_id}", response_model=UserPublic)
def update_user(
    user_id: UUID,
    body: UserUpdate,
    principal: UsersAdmin,
    container: ContainerDep,
    response: Response,
    expected: IfMatchDep,
) -> UserPublic:
    """Change name, role or status; a new password ends the user's sessions."""
    tenant_id = principal.tenant_id
    assert tenant_id is not None
    fields = body.model_dump(exclude={"password"})
    with acting_as(principal.actor):
        if body.password is not None:
            # check the precondition before the first write so a stale PATCH changes nothing
            user = container.platform.get_user(tenant_id, user_id)
            check_if_match(expected, user.version, "user")
            container.platform.change_password(
                ChangePassword(tenant_id=tenant_id, user_id=user_id, new_password=body.password)
            )
            expected = None
        if any(v is not None for v in fields.values()) or body.password is None:
            container.platform.update_user(
                UpdateUser(
                    tenant_id=tenant_id, user_id=user_id, expected_version=expected, **fields
                )
            )
    _caught_up(container)
    out = read_user(container, tenant_id, user_id)
    set_etag(response, out.version)
    return out


@router.put("/{user_id}/roles", response_model=UserPublic)
def set_user_roles(
    user_id: UUID,
    body: UserRolesSet,
    principal: UsersAdmin,
    container: ContainerDep,
    response: Response,
    expected: IfMatchDep,
) -> UserPublic:
    """Replace the user's role assignments (junction ``user_roles``, with ``assigned_by``)."""
    tenant_id = principal.tenant_id
    assert tenant_id is not None
    with acting_as(principal.actor):
        user = container.platform.get_user(tenant_id, user_id)
        check_if_match(expected, user.version, "user")
        container.platform.set_user_roles(
            SetUserRoles(
                tenant_id=tenant_id,
                user_id=user_id,
                role_ids=body.role_ids,
                assigned_by=principal.user_id,
                expected_version=expected,
            )
        )
    _caught_up(container)
    out = read_user(container, tenant_id, user_id)
    set_etag(response, out.version)
    return out
