"""Users of the caller's tenant: admins create and change them, managers read them."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response, status

from api.audit_hooks import USER_PII_FIELDS, audit_sensitive_read
from api.auth import Principal, require, tenant_of
from api.composition import Container
from api.deps import ContainerDep
from api.etag import IfMatchDep, check_if_match, set_etag
from api.pagination import Page, PageDep
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
from domain.kernel.personal_data import open_tokens
from projections.queries import users
from projections.queries.paging import Conn
from projections.queries.personal_data import personal_data

router = APIRouter(prefix="/v1/users", tags=["users"])

UsersRead = Annotated[Principal, Depends(require("users:read"))]
UsersAdmin = Annotated[Principal, Depends(require("users:admin"))]


def read_users(conn: Conn, rows: list[dict[str, Any]]) -> list[UserPublic]:
    """The users with each one's role assignments (one query for the page)."""
    assigned = users.role_assignments(conn, [row["id"] for row in rows])
    return [
        UserPublic(
            **{**row, "role": str(row["role"]), "status": str(row["status"])},
            roles=[RoleAssignmentPublic(**r) for r in assigned[row["id"]]],
        )
        for row in rows
    ]


def read_user(container: Container, tenant_id: UUID, user_id: UUID) -> UserPublic:
    """One user of ``tenant_id`` from the read model; another tenant's is a 404."""
    with tenant_tx(container.read_pool, tenant_id) as conn:
        row = users.user(conn, user_id)
        if row is None:
            raise NotFoundError("user", user_id)
        return read_users(conn, [row])[0]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=UserPublic)
def create_user(
    body: UserCreate, principal: UsersAdmin, container: ContainerDep, response: Response
) -> UserPublic:
    """Create (or invite) a user in the caller's tenant."""
    tenant_id = tenant_of(principal)
    with acting_as(principal.actor):
        user = container.platform.register_user(
            RegisterUser(tenant_id=tenant_id, **body.model_dump())
        )
    response.headers["Location"] = f"/v1/users/{user.id}"
    return _answer(container, tenant_id, user.id, response)


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
    with tenant_tx(container.read_pool, principal.tenant_id) as conn:
        rows, next_cursor = users.list_users(conn, page, status=status_, role=role)
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


def _answer(container: Container, tenant_id: UUID, user_id: UUID, response: Response) -> UserPublic:
    """The user as the read model shows it once this command is projected, with its ETag."""
    container.wait_caught_up()
    out = read_user(container, tenant_id, user_id)
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
    tenant_id = tenant_of(principal)
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
    return _answer(container, tenant_id, user_id, response)


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
    tenant_id = tenant_of(principal)
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
    return _answer(container, tenant_id, user_id, response)


@router.post("/{user_id}/erase", status_code=status.HTTP_204_NO_CONTENT)
def erase_user(user_id: UUID, principal: UsersAdmin, container: ContainerDep) -> Response:
    """Erase the user's personal data for good (GDPR Art. 17): their key is destroyed."""
    tenant_id = tenant_of(principal)
    with acting_as(principal.actor):
        container.platform.erase_user(tenant_id, user_id)
    container.wait_caught_up()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def erase_all_users(container: Container, tenant_id: UUID) -> int:
    """Erase every user of a tenant (its cancellation); returns how many. Idempotent."""
    container.wait_caught_up()  # every registered user is in the read model
    with tenant_tx(container.read_pool, tenant_id) as conn:
        ids = users.user_ids(conn)
    for user_id in ids:
        container.platform.erase_user(tenant_id, user_id)
    return len(ids)


@router.get("/{user_id}/personal-data")
def get_personal_data(
    user_id: UUID,
    principal: Annotated[Principal, Depends(require("me:read"))],
    container: ContainerDep,
) -> dict[str, Any]:
    """Every piece of personal data held about the user (GDPR Art. 15 and 20)."""
    tenant_id = tenant_of(principal)
    if user_id != principal.user_id and not principal.can("users:admin"):
        raise NotFoundError("user", user_id)  # someone else's data: as if absent
    user = container.platform.get_user(tenant_id, user_id)
    with tenant_tx(container.read_pool, tenant_id) as conn:
        found = personal_data(conn, user_id)
    if found is None:
        raise NotFoundError("user", user_id)
    keys = container.platform.subject_keys
    for row in found["activity"]:
        sealed = open_tokens(keys, row.pop("sealed") or {})
        row.update({f: sealed[k] for k, f in (("ip", "ip_address"), ("user_agent", "user_agent"))
                    if k in sealed})  # fmt: skip
    found["user"] = {**found["user"], "email": user.email, "name": user.name}
    audit_sensitive_read(
        container, principal, resource_type="user", resource_id=user_id,
        fields=("personal_data",), tenant_id=tenant_id,
    )  # fmt: skip
    return {"subject": {"type": "user", "id": str(user_id)}, "erased": user.erased, **found}
