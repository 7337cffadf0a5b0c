"""Authentication, login sessions and API keys: hashes stored, secrets shown once."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal
from uuid import UUID

import pytest
from argon2 import PasswordHasher

from domain.identity.application import TenantWithAdmin
from domain.identity.commands import CreateApiKey, CreateTenant, Login, UpdateUser
from domain.kernel.errors import AuthenticationError, NotFoundError, ValidationError
from domain.kernel.ids import secret_hash
from domain.platform import Platform


def all_stored_state(app: Platform) -> bytes:
    return b"".join(n.state for n in app.recorder.select_notifications(start=1, limit=10_000))


def test_authenticate_returns_the_user_for_good_credentials(
    app: Platform, acme: TenantWithAdmin, password: str
) -> None:
    assert acme.admin is not None
    assert app.authenticate("acme", "BOSS@acme.io", password).id == acme.admin.id


@pytest.mark.parametrize(
    ("slug", "email", "pw"),
    [
        ("acme", "boss@acme.io", "wrong password"),
        ("acme", "ghost@acme.io", "correct horse battery"),
        ("ghost", "boss@acme.io", "correct horse battery"),
        ("acme", "not-an-email", "correct horse battery"),
        ("acme", "boss@acme.io", None),
    ],
)
def test_every_authentication_failure_looks_the_same(
    app: Platform, acme: TenantWithAdmin, slug: str, email: str, pw: str
) -> None:
    with pytest.raises(AuthenticationError) as err:
        app.authenticate(slug, email, pw)
    assert str(err.value) == "invalid credentials"


class CountingHasher(PasswordHasher):
    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1, hash_len=4, salt_len=8)
        self.verified = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.verified += 1
        return super().verify(hash, password)


def test_unknown_user_still_costs_one_argon2_verify(make_app, password: str) -> None:
    hasher = CountingHasher()
    app = make_app(password_hasher=hasher)
    app.create_tenant(CreateTenant("Acme", "acme", "boss@acme.io", password))
    for email in ("ghost@acme.io", "boss@acme.io"):
        with pytest.raises(AuthenticationError):
            app.authenticate("acme", email, "wrong password")
    assert hasher.verified == 2


def test_suspended_tenant_and_inactive_user_cannot_log_in(
    app: Platform, acme: TenantWithAdmin, password: str
) -> None:
    assert acme.admin is not None
    app.set_tenant_status(acme.tenant.id, "suspended")
    with pytest.raises(AuthenticationError):
        app.authenticate("acme", "boss@acme.io", password)
    app.set_tenant_status(acme.tenant.id, "active")
    app.update_user(UpdateUser(acme.tenant.id, acme.admin.id, status="inactive"))
    with pytest.raises(AuthenticationError):
        app.authenticate("acme", "boss@acme.io", password)


def test_login_records_the_login_and_opens_a_session_by_token_hash(
    app: Platform, acme: TenantWithAdmin, password: str, clock
) -> None:
    result = app.login(Login("acme", "boss@acme.io", password, ttl=timedelta(hours=1)))
    assert result.user.last_login == clock.now
    assert result.session.expires_at == clock.now + timedelta(hours=1)
    assert result.session.token_hash == secret_hash(result.token)
    session, user = app.resolve_session(result.token)
    assert (session.id, user.id) == (result.session.id, result.user.id)
    # only the hash is ever stored
    assert result.token.encode() not in all_stored_state(app)


def test_session_expires_and_can_be_revoked(
    app: Platform, acme: TenantWithAdmin, password: str, clock
) -> None:
    issued = app.login(Login("acme", "boss@acme.io", password, ttl=timedelta(hours=1)))
    clock.advance(timedelta(minutes=59))
    app.resolve_session(issued.token)
    clock.advance(timedelta(minutes=1))
    with pytest.raises(AuthenticationError):
        app.resolve_session(issued.token)
    fresh = app.login(Login("acme", "boss@acme.io", password))
    app.revoke_session(fresh.token)
    app.revoke_session(fresh.token)  # logout twice is fine
    app.revoke_session("never-issued")
    with pytest.raises(AuthenticationError):
        app.resolve_session(fresh.token)
    assert [type(e).__name__ for e in app.events.get(fresh.session.id)] == ["Opened", "Revoked"]


def test_session_of_a_deactivated_user_no_longer_resolves(
    app: Platform, acme: TenantWithAdmin, password: str
) -> None:
    assert acme.admin is not None
    issued = app.login(Login("acme", "boss@acme.io", password))
    app.update_user(UpdateUser(acme.tenant.id, acme.admin.id, status="inactive"))
    with pytest.raises(AuthenticationError):
        app.resolve_session(issued.token)


def test_api_key_secret_is_shown_once_and_resolves_until_revoked(
    app: Platform, tenant_id: UUID
) -> None:
    issued = app.create_api_key(CreateApiKey(tenant_id, name="ci", role="manager"))
    assert issued.secret.encode() not in all_stored_state(app)
    key = app.resolve_api_key(issued.secret)
    assert (key.id, key.role, key.tenant_id) == (issued.api_key.id, "manager", tenant_id)
    app.revoke_api_key(tenant_id, key.id)
    with pytest.raises(AuthenticationError):
        app.resolve_api_key(issued.secret)
    with pytest.raises(AuthenticationError):
        app.resolve_api_key("never-issued")


def test_api_key_is_fenced_to_its_tenant_and_validated(app: Platform, tenant_id: UUID) -> None:
    other = app.create_tenant(CreateTenant(name="Other", slug="other")).tenant.id
    issued = app.create_api_key(CreateApiKey(tenant_id, name="ci"))
    with pytest.raises(NotFoundError):
        app.revoke_api_key(other, issued.api_key.id)
    with pytest.raises(ValidationError) as err:
        app.create_api_key(CreateApiKey(tenant_id, name="", role="root"))
    assert [p for p, _ in err.value.problems] == ["/name", "/role"]
