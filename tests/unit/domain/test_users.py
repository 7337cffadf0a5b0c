"""User rules: unique email per tenant, password hashing, lifecycle, roles, preferences."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from domain.identity.application import TenantWithAdmin
from domain.identity.commands import (
    ChangePassword,
    CreateRole,
    CreateTenant,
    RegisterUser,
    SetPreference,
    SetUserRoles,
    UpdateTenant,
    UpdateUser,
)
from domain.identity.users import User
from domain.kernel.actor import Actor, acting_as
from domain.kernel.errors import (
    ConflictError,
    NotFoundError,
    StaleVersionError,
    TransitionError,
    ValidationError,
)
from domain.platform import Platform


def register(app: Platform, tenant_id: UUID, email: str = "ann@acme.io", **kw: object) -> User:
    fields = {"name": "Ann", "password": "long enough pw", **kw}
    return app.register_user(RegisterUser(tenant_id=tenant_id, email=email, **fields))  # type: ignore[arg-type]


def test_register_normalises_email_and_stores_only_an_argon2id_hash(
    app: Platform, tenant_id: UUID
) -> None:
    user = register(app, tenant_id, email="Ann.Smith@ACME.io", password="s3cret-password")
    (event,) = app.events.get(user.id)
    assert type(event).__qualname__ == "User.Registered"
    assert event.tenant_id == tenant_id  # type: ignore[attr-defined]
    assert event.email == "ann.smith@acme.io"  # type: ignore[attr-defined]
    assert event.password_hash.startswith("$argon2id$")  # type: ignore[attr-defined]
    assert "s3cret-password" not in repr(vars(event))
    assert (user.role, user.status, user.last_login) == ("user", "active", None)


def test_events_record_the_acting_principal(app: Platform, tenant_id: UUID) -> None:
    actor = Actor(user_id="u-1", tenant_id=str(tenant_id), ip="10.0.0.1", request_id="r-1")
    with acting_as(actor):
        user = register(app, tenant_id)
    (event,) = app.events.get(user.id)
    assert event.meta == {  # type: ignore[attr-defined]
        "user_id": "u-1",
        "tenant_id": str(tenant_id),
        "ip": "10.0.0.1",
        "request_id": "r-1",
        "kind": "system",
    }


def test_email_is_unique_within_a_tenant_case_insensitively(
    app: Platform, tenant_id: UUID, stored
) -> None:
    register(app, tenant_id, email="ann@acme.io")
    before = stored()
    with pytest.raises(ConflictError, match=r"ann@acme\.io"):
        register(app, tenant_id, email="ANN@acme.io")
    assert stored() == before


def test_same_email_may_exist_in_another_tenant(app: Platform, tenant_id: UUID) -> None:
    other = app.create_tenant(CreateTenant(name="Other", slug="other")).tenant.id
    a = register(app, tenant_id)
    b = register(app, other)
    assert a.id != b.id
    assert app.find_user_by_email(other, "Ann@Acme.io") == b


def test_find_user_by_email_returns_none_when_missing_or_invalid(
    app: Platform, tenant_id: UUID
) -> None:
    assert app.find_user_by_email(tenant_id, "ghost@acme.io") is None
    assert app.find_user_by_email(tenant_id, "not an email") is None


def test_invalid_user_reports_every_problem_and_stores_nothing(
    app: Platform, tenant_id: UUID, stored
) -> None:
    before = stored()
    with pytest.raises(ValidationError) as err:
        register(app, tenant_id, email="x", name="", role="root", status="gone", password=None)
    assert [p for p, _ in err.value.problems] == [
        "/email",
        "/name",
        "/role",
        "/status",
        "/password",
    ]
    assert stored() == before


def test_invited_user_may_have_no_password(app: Platform, tenant_id: UUID) -> None:
    user = register(app, tenant_id, status="invited", password=None)
    assert user.password_hash is None


def test_another_tenants_user_is_indistinguishable_from_a_missing_one(
    app: Platform, acme: TenantWithAdmin
) -> None:
    other = app.create_tenant(CreateTenant(name="Other", slug="other")).tenant.id
    assert acme.admin is not None
    with pytest.raises(NotFoundError) as foreign:
        app.get_user(other, acme.admin.id)
    with pytest.raises(NotFoundError) as missing:
        app.get_user(other, uuid4())
    assert type(foreign.value) is type(missing.value)
    assert foreign.value.resource_type == missing.value.resource_type == "user"


def test_update_user_follows_the_status_lifecycle(app: Platform, tenant_id: UUID, stored) -> None:
    user = register(app, tenant_id, status="invited", password=None)
    updated = app.update_user(
        UpdateUser(tenant_id=tenant_id, user_id=user.id, status="active", role="manager")
    )
    assert (updated.status, updated.role) == ("active", "manager")
    before = stored()
    with pytest.raises(TransitionError):
        app.update_user(UpdateUser(tenant_id=tenant_id, user_id=user.id, status="invited"))
    with pytest.raises(StaleVersionError):
        app.update_user(
            UpdateUser(tenant_id=tenant_id, user_id=user.id, name="Zed", expected_version=1)
        )
    assert stored() == before


def test_change_password_replaces_the_hash(app: Platform, acme: TenantWithAdmin) -> None:
    assert acme.admin is not None
    new = "a fresh new passphrase"
    app.change_password(
        ChangePassword(tenant_id=acme.tenant.id, user_id=acme.admin.id, new_password=new)
    )
    assert app.authenticate("acme", "boss@acme.io", new).id == acme.admin.id
    with pytest.raises(ValidationError):
        app.change_password(
            ChangePassword(tenant_id=acme.tenant.id, user_id=acme.admin.id, new_password="short")
        )


@pytest.mark.parametrize(
    "weak", ["short pw 1", "eleven char", "aaaaaaaaaaaa", "password1234", "qwertyuiopas",
             "Password1234!", "123456789012"],
)  # fmt: skip
def test_a_password_needs_12_characters_and_must_not_be_common(
    app: Platform, tenant_id: UUID, weak: str
) -> None:
    with pytest.raises(ValidationError) as e:
        register(app, tenant_id, password=weak)
    assert [p for p, _ in e.value.problems] == ["/password"]
    register(app, tenant_id, password="ochre lantern drifts sideways")


def test_record_login_sets_last_login_from_the_clock(app: Platform, tenant_id: UUID, clock) -> None:
    user = register(app, tenant_id)
    assert app.record_login(tenant_id, user.id).last_login == clock.now


def test_set_user_roles_records_junction_rows_and_keeps_assigned_at(
    app: Platform, tenant_id: UUID, clock
) -> None:
    from datetime import timedelta

    user = register(app, tenant_id)
    auditor = app.create_role(CreateRole(name="auditor", permissions=["audit:read"]))
    writer = app.create_role(CreateRole(name="writer", permissions=["workflows:write"]))
    admin_id = uuid4()
    app.set_user_roles(SetUserRoles(tenant_id, user.id, [auditor.id], assigned_by=admin_id))
    first_at = clock.now
    clock.advance(timedelta(minutes=5))
    # adding a role keeps the first assignment's time and assigner
    user = app.set_user_roles(SetUserRoles(tenant_id, user.id, [str(auditor.id), writer.id]))
    assert user.role_assignments == [
        {"role_id": auditor.id, "assigned_by": admin_id, "assigned_at": first_at},
        {"role_id": writer.id, "assigned_by": None, "assigned_at": clock.now},
    ]
    assert {"audit:read", "workflows:write"} <= app.effective_permissions(user)
    assert "users:admin" not in app.effective_permissions(user)


def test_set_user_roles_rejects_unknown_and_repeated_roles(
    app: Platform, tenant_id: UUID, stored
) -> None:
    user = register(app, tenant_id)
    before = stored()
    with pytest.raises(ValidationError) as err:
        app.set_user_roles(SetUserRoles(tenant_id, user.id, [uuid4()]))
    assert err.value.problems[0][0] == "/role_ids/0"
    with pytest.raises(ValidationError):
        app.set_user_roles(SetUserRoles(tenant_id, user.id, ["nope"]))
    role = app.create_role(CreateRole(name="auditor", permissions=[]))
    before = stored()
    with pytest.raises(ValidationError):
        app.set_user_roles(SetUserRoles(tenant_id, user.id, [role.id, role.id]))
    assert stored() == before


def test_preference_key_is_unique_per_user(app: Platform, tenant_id: UUID) -> None:
    ann, bob = register(app, tenant_id), register(app, tenant_id, email="bob@acme.io")
    first = app.set_preference(SetPreference(tenant_id, ann.id, "theme", "dark"))
    again = app.set_preference(SetPreference(tenant_id, ann.id, "theme", "light"))
    bobs = app.set_preference(SetPreference(tenant_id, bob.id, "theme", "dark"))
    assert first.id == again.id != bobs.id
    assert app.get_preference(tenant_id, ann.id, "theme").value == "light"
    assert [type(e).__name__ for e in app.events.get(first.id)] == ["Set", "Changed"]


def test_deleted_preference_frees_the_key_and_can_be_set_again(
    app: Platform, tenant_id: UUID
) -> None:
    ann = register(app, tenant_id)
    pref = app.set_preference(SetPreference(tenant_id, ann.id, "theme", "dark"))
    app.delete_preference(tenant_id, ann.id, "theme")
    with pytest.raises(NotFoundError):
        app.get_preference(tenant_id, ann.id, "theme")
    with pytest.raises(NotFoundError):
        app.delete_preference(tenant_id, ann.id, "theme")
    revived = app.set_preference(SetPreference(tenant_id, ann.id, "theme", "blue"))
    assert revived.id == pref.id
    assert revived.value == "blue"


def test_preference_needs_a_valid_key_value_and_user(app: Platform, tenant_id: UUID) -> None:
    ann = register(app, tenant_id)
    with pytest.raises(ValidationError) as err:
        app.set_preference(SetPreference(tenant_id, ann.id, "", 42))
    assert [p for p, _ in err.value.problems] == ["/key", "/value"]
    with pytest.raises(NotFoundError):
        app.set_preference(SetPreference(tenant_id, uuid4(), "theme", "dark"))


def test_renaming_a_user_records_only_the_name_and_keeps_sessions(
    app: Platform, tenant_id: UUID
) -> None:
    user = register(app, tenant_id)
    user.collect_events()
    user.update(name="Ann Smith", role=user.role)
    (event,) = user.collect_events()
    assert type(event).__qualname__ == "User.Updated"
    assert event.changes == {"name": "Ann Smith"}  # type: ignore[attr-defined]
    assert (user.name, user.session_generation) == ("Ann Smith", 0)


def test_taking_a_role_away_revokes_sessions_but_granting_one_does_not(
    app: Platform, tenant_id: UUID
) -> None:
    user = register(app, tenant_id)
    user.collect_events()
    role_a, role_b = uuid4(), uuid4()
    grant = [{"role_id": role_a, "assigned_by": None, "assigned_at": None}]
    user.assign_roles(grant)
    assert [type(e).__name__ for e in user.collect_events()] == ["RolesAssigned"]
    assert user.session_generation == 0
    user.assign_roles([{"role_id": role_b, "assigned_by": None, "assigned_at": None}])
    assert [type(e).__name__ for e in user.collect_events()] == [
        "RolesAssigned",
        "CredentialsRevoked",
    ]
    assert (user.role_ids, user.session_generation, user.api_key_generation) == ([role_b], 1, 0)


def test_a_cancelled_tenant_registers_no_users(app: Platform, tenant_id: UUID, stored) -> None:
    app.update_tenant(UpdateTenant(tenant_id, status="cancelled"))
    before = stored()
    with pytest.raises(ConflictError) as err:
        register(app, tenant_id)
    assert (err.value.resource_type, err.value.resource_id) == ("tenant", tenant_id)
    assert str(tenant_id) in str(err.value)
    assert stored() == before
