"""Authentication commands: failed logins, rehashing, session and API-key resolution."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest
from argon2 import PasswordHasher

from domain.audit.sensitive_reads import SecurityEvent
from domain.identity.application import TenantWithAdmin
from domain.identity.commands import ChangePassword, CreateApiKey, Login, UpdateUser
from domain.identity.credentials import ApiKey
from domain.identity.users import User
from domain.kernel.errors import AuthenticationError
from domain.kernel.ids import new_secret, secret_hash
from domain.platform import Platform


@pytest.mark.parametrize(
    ("slug", "email", "names"),
    [
        ("acme", "BOSS@acme.io", ("tenant", "user")),
        ("acme", "ghost@acme.io", ("tenant",)),
        ("acme", "not an email", ("tenant",)),
        ("acme", None, ("tenant",)),
        ("ghost", "boss@acme.io", ()),
        (42, "boss@acme.io", ()),
    ],
)
def test_a_failed_login_records_the_tenant_and_account_it_named_and_nothing_typed(
    app: Platform, acme: TenantWithAdmin, slug: object, email: object, names: tuple[str, ...]
) -> None:
    assert acme.admin is not None
    recorded = app.record_failed_login(slug, email)
    stored = app.repository.get(recorded.id)
    assert isinstance(stored, SecurityEvent)
    assert stored.kind == "login_failed"
    assert stored.tenant_id == (acme.tenant.id if "tenant" in names else None)
    assert stored.user_id == (acme.admin.id if "user" in names else None)
    (raw,) = app.recorder.select_events(recorded.id)
    assert b"boss@acme.io" not in raw.state.lower()


def test_login_upgrades_a_hash_made_with_older_parameters(
    app: Platform, acme: TenantWithAdmin, password: str
) -> None:
    assert acme.admin is not None
    old_hash = app.get_user(acme.tenant.id, acme.admin.id).password_hash
    app.password_hasher = PasswordHasher(
        time_cost=2, memory_cost=16, parallelism=1, hash_len=16, salt_len=8
    )
    result = app.login(Login("acme", "boss@acme.io", password))
    events = [type(e).__name__ for e in app.events.get(acme.admin.id)]
    assert events[-2:] == ["PasswordChanged", "LoggedIn"]
    assert result.user.password_hash != old_hash
    assert not app.password_hasher.check_needs_rehash(result.user.password_hash or "")
    # the new hash still admits the same password, once
    assert app.login(Login("acme", "boss@acme.io", password)).user.id == acme.admin.id
    after = [type(e).__name__ for e in app.events.get(acme.admin.id)]
    assert after[len(events) :] == ["LoggedIn"]


def test_an_unknown_token_does_not_resolve(app: Platform) -> None:
    with pytest.raises(AuthenticationError):
        app.resolve_session(new_secret())


def test_a_password_change_ends_sessions_opened_before_it(
    app: Platform, acme: TenantWithAdmin, password: str
) -> None:
    assert acme.admin is not None
    before = app.login(Login("acme", "boss@acme.io", password))
    # more events than one page after the change, so the search reads a second page
    app.change_password(ChangePassword(acme.tenant.id, acme.admin.id, "another long passphrase"))
    for _ in range(25):
        app.record_login(acme.tenant.id, acme.admin.id)
    with pytest.raises(AuthenticationError):
        app.resolve_session(before.token)
    after = app.login(Login("acme", "boss@acme.io", "another long passphrase"))
    assert app.resolve_session(after.token)[1].id == acme.admin.id


def test_sessions_outlive_many_later_events_without_a_password_change(
    app: Platform, acme: TenantWithAdmin, password: str
) -> None:
    assert acme.admin is not None
    result = app.login(Login("acme", "boss@acme.io", password))
    for _ in range(25):
        app.record_login(acme.tenant.id, acme.admin.id)
    session, user = app.resolve_session(result.token)
    assert (session.id, user.id) == (result.session.id, acme.admin.id)


def test_an_api_key_stops_once_its_creator_is_deactivated_even_if_reactivated(
    app: Platform, tenant_id: UUID, user: User
) -> None:
    issued = app.create_api_key(CreateApiKey(tenant_id, name="ci", created_by=user.id))
    assert app.resolve_api_key(issued.secret).created_by == user.id
    app.update_user(UpdateUser(tenant_id, user.id, status="inactive"))
    with pytest.raises(AuthenticationError):
        app.resolve_api_key(issued.secret)
    app.update_user(UpdateUser(tenant_id, user.id, status="active"))
    with pytest.raises(AuthenticationError):
        app.resolve_api_key(issued.secret)
    fresh = app.create_api_key(CreateApiKey(tenant_id, name="ci-2", created_by=user.id))
    assert app.resolve_api_key(fresh.secret).id == fresh.api_key.id


def test_an_api_key_whose_creator_is_unknown_does_not_resolve(
    app: Platform, tenant_id: UUID
) -> None:
    secret = new_secret()
    orphan = ApiKey(
        tenant_id=tenant_id, name="old", role="user", secret_hash=secret_hash(secret),
        created_by=uuid4(),
    )  # fmt: skip
    app.save(orphan)
    with pytest.raises(AuthenticationError):
        app.resolve_api_key(secret)


@pytest.mark.parametrize(
    ("creator_role", "key_role", "acts_as"),
    [(None, "admin", "admin"), ("user", "admin", "user"), ("admin", "viewer", "viewer")],
)
def test_an_api_key_acts_with_its_role_capped_at_its_creators(
    app: Platform, tenant_id: UUID, user: User, creator_role: str | None, key_role: str,
    acts_as: str,
) -> None:  # fmt: skip
    if creator_role is not None:
        app.update_user(UpdateUser(tenant_id, user.id, role=creator_role))
    created_by = None if creator_role is None else user.id
    issued = app.create_api_key(
        CreateApiKey(tenant_id, name="ci", role=key_role, created_by=created_by)
    )
    assert app.api_key_role(issued.api_key) == acts_as
