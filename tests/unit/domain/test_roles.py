"""Roles and the permission matrix."""

from __future__ import annotations

import itertools

import pytest

from domain.identity.commands import CreateRole
from domain.identity.permissions import (
    BUILTIN_ROLES,
    PERMISSIONS,
    permissions_for_role,
    role_at_least,
)
from domain.kernel.errors import ConflictError, NotFoundError, ValidationError
from domain.platform import Platform


def test_a_higher_builtin_role_holds_every_permission_of_a_lower_one() -> None:
    for lower, higher in itertools.pairwise(BUILTIN_ROLES):
        assert permissions_for_role(lower) < permissions_for_role(higher)
    assert permissions_for_role("admin") == frozenset(PERMISSIONS)
    assert permissions_for_role("root") == frozenset()


def test_matrix_examples_from_the_http_contract() -> None:
    assert "workflows:read" in permissions_for_role("viewer")
    assert "runs:start" not in permissions_for_role("viewer")
    assert "runs:start" in permissions_for_role("user")
    assert "workflows:write" not in permissions_for_role("user")
    assert "workflows:write" in permissions_for_role("manager")
    assert "audit:read" not in permissions_for_role("manager")
    assert role_at_least("admin", "manager")
    assert not role_at_least("user", "manager")
    assert not role_at_least("admin", "superuser")


def test_seeding_builtin_roles_is_idempotent_and_follows_the_matrix(app: Platform, stored) -> None:
    roles = app.seed_builtin_roles()
    assert [r.name for r in roles] == ["admin", "manager", "user", "viewer"]
    before = stored()
    assert [r.id for r in app.seed_builtin_roles()] == [r.id for r in roles]
    assert stored() == before
    viewer = app.get_role_by_name("Viewer")
    assert viewer.builtin
    assert set(viewer.permissions) == permissions_for_role("viewer")


def test_role_name_is_unique_system_wide_ignoring_case(app: Platform, stored) -> None:
    app.create_role(CreateRole(name="Auditor", permissions=["audit:read"]))
    before = stored()
    with pytest.raises(ConflictError):
        app.create_role(CreateRole(name="auditor", permissions=[]))
    assert stored() == before


def test_role_permissions_must_be_known_and_distinct(app: Platform, stored) -> None:
    with pytest.raises(ValidationError) as err:
        app.create_role(CreateRole(name="x", permissions=["audit:read", "launch:missiles"]))
    assert [p for p, _ in err.value.problems] == ["/name", "/permissions/1"]
    with pytest.raises(ValidationError):
        app.create_role(CreateRole(name="dupes", permissions=["audit:read", "audit:read"]))
    with pytest.raises(ValidationError):
        app.create_role(CreateRole(name="notalist", permissions={"audit:read": True}))
    assert stored() == 0


def test_unknown_role_is_not_found(app: Platform) -> None:
    with pytest.raises(NotFoundError):
        app.get_role_by_name("ghost")


def test_role_update_changes_description_and_permissions(app: Platform) -> None:
    role = app.create_role(CreateRole(name="auditor", permissions=["audit:read"]))
    role.update(permissions=["audit:read", "runs:read"])
    role.update(description=role.description)  # no change, no event
    assert [type(e).__name__ for e in role.collect_events()] == ["Updated"]
    assert role.permissions == ["audit:read", "runs:read"]
