"""Access commands: seeding built-in roles, known roles, role assignments, permissions."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import pytest

from domain.identity.commands import CreateRole, SetUserRoles
from domain.identity.users import User
from domain.kernel.errors import NotFoundError, StaleVersionError, ValidationError
from domain.platform import Platform


def test_seeding_while_another_process_seeds_takes_the_role_it_created(
    app: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the other process created "viewer" between our lookup and our create
    other = app.create_role(CreateRole(name="viewer", permissions=["me:read"]))
    real_lookup = app.get_role_by_name
    missed: list[str] = []

    def lookup_that_misses_viewer_once(name: str) -> Any:
        if name == "viewer" and not missed:
            missed.append(name)
            raise NotFoundError("role", name)
        return real_lookup(name)

    monkeypatch.setattr(app, "get_role_by_name", lookup_that_misses_viewer_once)
    roles = app.seed_builtin_roles()
    assert [r.name for r in roles] == ["admin", "manager", "user", "viewer"]
    assert roles[-1].id == other.id
    assert not roles[-1].builtin


def test_known_roles_are_the_builtins_and_custom_ones_in_any_case(app: Platform) -> None:
    app.create_role(CreateRole(name="Auditor", permissions=["audit:read"]))
    assert app.is_known_role(" MANAGER ")
    assert app.is_known_role("auditor")
    assert not app.is_known_role("ghost")


def test_role_ids_must_be_a_list(app: Platform, user: User) -> None:
    with pytest.raises(ValidationError) as err:
        app.set_user_roles(SetUserRoles(user.tenant_id, user.id, "not-a-list"))
    assert err.value.problems[0].pointer == "/role_ids"


def test_setting_the_same_roles_again_records_nothing(app: Platform, user: User) -> None:
    role = app.create_role(CreateRole(name="auditor", permissions=["audit:read"]))
    app.set_user_roles(SetUserRoles(user.tenant_id, user.id, [role.id]))
    version = app.get_user(user.tenant_id, user.id).version
    same = app.set_user_roles(SetUserRoles(user.tenant_id, user.id, [str(role.id)]))
    assert same.version == version
    assert app.get_user(user.tenant_id, user.id).version == version


def test_set_user_roles_with_a_stale_version_is_refused(app: Platform, user: User) -> None:
    role = app.create_role(CreateRole(name="auditor", permissions=[]))
    with pytest.raises(StaleVersionError) as err:
        app.set_user_roles(
            SetUserRoles(user.tenant_id, user.id, [role.id], expected_version=user.version - 1)
        )
    assert (err.value.resource_id, err.value.expected) == (user.id, user.version - 1)
    assert app.get_user(user.tenant_id, user.id).role_ids == []


def test_effective_permissions_skip_an_assignment_whose_role_does_not_load(
    app: Platform, tenant_id: UUID, user: User
) -> None:
    auditor = app.create_role(CreateRole(name="auditor", permissions=["audit:read"]))
    stored_user = app.get_user(tenant_id, user.id)
    role_ids = (uuid4(), auditor.id)
    stored_user.assign_roles(
        [{"role_id": rid, "assigned_by": None, "assigned_at": None} for rid in role_ids]
    )
    app.save(stored_user)
    granted = app.effective_permissions(app.get_user(tenant_id, user.id))
    assert "audit:read" in granted
    assert "runs:start" in granted  # the built-in "user" role's
    assert "users:admin" not in granted
