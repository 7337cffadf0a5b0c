"""The Python client's resource groups beyond runs, against the live API on 127.0.0.1: users,
roles, preferences, config, the marketplace, installations, messaging, audit proofs, erasure,
tenants, signed hook deliveries, and the same groups through ``AsyncClient``."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from api.client import (
    AsyncClient,
    AuthError,
    Client,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    PreconditionFailedError,
    RetryPolicy,
    sign_delivery,
)
from api.schemas.identity import UserPublic
from tests.api.test_marketplace import CONFIG_SCHEMA
from tests.api.test_runs import QUICK
from tests.conftest import ADMIN_TOKEN
from tests.factories import DEFAULT_PASSWORD, active_workflow, create_user, unique_email

QUICK_RETRY = RetryPolicy(attempts=3, initial_wait_s=0.01, max_wait_s=0.05)


@pytest.fixture
def admin(live_url, tenant):  # type: ignore[no-untyped-def]
    with Client(live_url, tenant.admin.token, retry=QUICK_RETRY) as c:
        yield c


@pytest.fixture
def platform(live_url):  # type: ignore[no-untyped-def]
    with Client(live_url, ADMIN_TOKEN, retry=QUICK_RETRY) as c:
        yield c


def as_user(live_url: str, token: str) -> Client:
    return Client(live_url, token, retry=QUICK_RETRY)


def test_users_are_created_paged_changed_given_roles_and_erased(admin) -> None:
    email = unique_email("client")
    made = admin.users.create(email, "Client Person", DEFAULT_PASSWORD, role="viewer")
    assert isinstance(made, UserPublic)
    assert (made.email, made.role) == (email, "viewer")
    everyone = admin.users.list(limit=1)
    assert next(len(p.items) for p in everyone.pages()) == 1  # one per page, followed on
    assert made.id in [u.id for u in everyone]
    assert made.id in [u.id for u in admin.users.list(role="viewer")]
    with pytest.raises(PreconditionFailedError):
        admin.users.update(made.id, if_match=made.version + 5, name="Stale")
    renamed = admin.users.update(made.id, if_match=made.version, name="Renamed Person")
    assert admin.users.get(made.id).name == renamed.name == "Renamed Person"
    role = next(r for r in admin.roles.list() if r.name == "manager")
    assert [a.role_id for a in admin.users.set_roles(made.id, [role.id]).roles] == [role.id]
    assert admin.users.personal_data(made.id)["erased"] is False
    admin.users.erase(made.id)
    admin.users.erase(made.id)  # idempotent: a resend after a lost answer is harmless
    assert admin.users.personal_data(made.id)["erased"] is True


def test_preferences_and_config_are_read_written_and_guarded(
    client, tenant, live_url, admin
) -> None:
    user = create_user(client, tenant, "user")
    with as_user(live_url, user.token) as me:
        first = me.preferences.set("ui.theme", "dark")
        assert me.preferences.get("ui.theme").value == "dark"
        with pytest.raises(PreconditionFailedError):
            me.preferences.set("ui.theme", "light", if_match=first.version + 1)
        assert me.preferences.set("ui.theme", "light", if_match=first.version).value == "light"
        me.preferences.delete("ui.theme")
        with pytest.raises(NotFoundError):
            me.preferences.get("ui.theme")
        with pytest.raises(ForbiddenError):
            me.config.get("region")  # the tenant's configuration is the admin's
    entry = admin.config.set("region", {"name": "eu-west"})
    assert admin.config.get("region").value == {"name": "eu-west"}
    assert admin.config.set("region", "us", if_match=entry.version).version > entry.version


def test_a_skill_is_published_reviewed_installed_configured_and_removed(
    client, tenant, live_url, admin, platform
) -> None:
    user = create_user(client, tenant, "user")
    with as_user(live_url, user.token) as dev:
        skill = dev.marketplace.publish(f"crm-{uuid.uuid4().hex[:8]}", "crm",
                                        {"config_schema": CONFIG_SCHEMA})  # fmt: skip
    assert skill.status == "pending"
    assert platform.marketplace.reject(skill.id, "not yet").status == "rejected"
    other = admin.marketplace.publish(f"crm-{uuid.uuid4().hex[:8]}", "crm", {})
    assert platform.marketplace.approve(other.id).status == "active"
    assert other.id in [s.id for s in admin.marketplace.list(category="crm")]
    assert admin.marketplace.get(other.id).name == other.name
    with pytest.raises(ConflictError):  # the rejected skill cannot be installed
        admin.installations.create(skill.id, {"api_url": "https://crm.example"})
    installed = admin.installations.create(other.id)
    assert [i.id for i in admin.installations.list()] == [installed.id]
    disabled = admin.installations.update(installed.id, if_match=installed.version,
                                          status="disabled")  # fmt: skip
    assert admin.installations.get(installed.id).status == disabled.status == "disabled"
    admin.installations.delete(installed.id, if_match=disabled.version)
    with pytest.raises(NotFoundError):
        admin.installations.get(installed.id)


def test_notifications_and_conversations(client, tenant, live_url, users) -> None:
    with as_user(live_url, users["manager"].token) as manager:
        sent = manager.notifications.send(users["viewer"].id, "email", "info", "Hi", "A message")
    with as_user(live_url, users["viewer"].token) as viewer:
        assert sent.id in [n.id for n in viewer.notifications.list(unread=True)]
        assert viewer.notifications.mark_read(sent.id).read_at is not None
        assert sent.id not in [n.id for n in viewer.notifications.list(unread=True)]
    with as_user(live_url, users["user"].token) as talker:
        session = f"s-{uuid.uuid4().hex[:6]}"
        for n in range(3):
            talker.conversations.record(session, f"q{n}", f"a{n}", {"n": n})
        turns = list(talker.conversations.list(session_id=session, limit=2))
        assert [t.input_text for t in turns] == ["q0", "q1", "q2"]


def test_audit_proofs_export_and_operations(admin) -> None:
    admin.workflows.create(f"audited-{uuid.uuid4().hex[:6]}", QUICK)
    signed = admin.audit.checkpoint()
    first = next(iter(admin.audit.events()))
    proof = admin.audit.inclusion_proof(first.id, tree_size=signed.tree_size)
    assert (proof.tree_size, proof.root_hash) == (signed.tree_size, signed.root_hash)
    consistency = admin.audit.consistency_proof(1, signed.tree_size)
    assert consistency.to_root == signed.root_hash
    with pytest.raises(NotFoundError):
        admin.audit.inclusion_proof(uuid.uuid4())
    lines = list(admin.audit.export())
    assert json.loads(lines[0])["id"]
    assert admin.health() == {"status": "ok"}
    assert admin.ready()["checks"]["database"] == "ok"
    assert admin.workflows.schema()["type"] == "object"


def test_the_platform_admin_changes_a_tenant_under_if_match(platform, tenant) -> None:
    current = platform.tenants.get(tenant.id)
    with pytest.raises(PreconditionFailedError):
        platform.tenants.update(tenant.id, if_match=current.version - 1, name="Stale Name")
    renamed = platform.tenants.update(tenant.id, if_match=current.version, name="Acme Renamed")
    assert (renamed.name, renamed.version) == ("Acme Renamed", current.version + 1)


def test_a_signed_delivery_starts_one_run_per_delivery_id(client, tenant, live_url, admin) -> None:
    wf = active_workflow(client, tenant.admin_headers, QUICK)
    hook = admin.hooks.create(wf)
    with Client(live_url, retry=QUICK_RETRY) as sender:  # no bearer: the signature is enough
        first = sender.hooks.deliver(hook.id, hook.secret, {"n": 1}, delivery_id="order-1")
        again = sender.hooks.deliver(hook.id, hook.secret, {"n": 1}, delivery_id="order-1")
        assert again.run_id == first.run_id
        with pytest.raises(AuthError):
            sender.hooks.deliver(hook.id, "not-the-secret", {"n": 1})
    # the helper alone, as a sender on another HTTP stack would use it
    raw = b'{"n": 2}'
    signed = {**sign_delivery(hook.secret, raw), "Content-Type": "application/json"}
    r = httpx.post(f"{live_url}/v1/hooks/{hook.id}", content=raw, headers=signed)
    assert r.status_code == 202, r.text
    assert len(list(admin.runs.list(workflow_id=wf))) == 2


async def test_the_async_client_has_every_group(client, tenant, live_url) -> None:
    for _ in range(2):
        create_user(client, tenant, "viewer", log_in=False)
    async with AsyncClient(live_url, tenant.admin.token, retry=QUICK_RETRY) as aio:
        pages = [len(p.items) async for p in aio.users.list(role="viewer", limit=1).pages()]
        assert len(pages) >= 2
        assert set(pages) <= {0, 1}
        viewers = [u async for u in aio.users.list(role="viewer", limit=1)]
        assert all(u.role == "viewer" for u in viewers)
        with pytest.raises(NotFoundError) as missing:
            await aio.users.get(uuid.uuid4())
        assert missing.value.type.endswith("/not-found")
        entry = await aio.config.set("async-key", [1, 2])
        with pytest.raises(PreconditionFailedError):
            await aio.config.set("async-key", [3], if_match=entry.version + 1)
        assert [r.name async for r in aio.roles.list()]
        assert (await aio.audit.checkpoint()).tree_size >= 1
        assert [line async for line in aio.audit.export()]
        assert (await aio.me()).tenant.id == uuid.UUID(tenant.id)
        assert (await aio.health())["status"] == "ok"
