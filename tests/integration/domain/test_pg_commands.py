"""The unit tests' commands on PostgreSQL: state read back by a fresh Platform, as the API role.

Each test writes with one ``Platform`` and asserts through another one built afterwards
(new connection pool, nothing in memory), so what it sees really came from ``platform_events``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from domain.identity.commands import (
    ChangePassword,
    CreateRole,
    CreateTenant,
    Login,
    SetPreference,
    SetUserRoles,
    UpdateTenant,
    UpdateUser,
)
from domain.kernel.errors import AuthenticationError, NotFoundError
from domain.marketplace.commands import (
    InstallSkill,
    PublishSkill,
    PublishSkillVersion,
    UpdateInstallation,
)
from domain.messaging.commands import RecordConversation, SendNotification
from domain.platform import Platform
from domain.workflows.commands import CreateWorkflow, UpdateDefinition
from tests.integration.domain.pg_support import (
    create_tenant,
    register,
    unique_email,
    unique_slug,
)
from tests.support.doubles import PASSWORD, FakeClock

Fresh = Callable[[], Platform]

SKILL_DEFINITION = {
    "config_schema": {
        "type": "object",
        "properties": {"channel": {"type": "string"}},
        "required": ["channel"],
    },
    "implementation": {"kind": "http", "url": "https://skills.example.com/notify"},
}


def event_names(app: Platform, aggregate_id: uuid.UUID) -> list[str]:
    return [type(e).__qualname__ for e in app.events.get(aggregate_id)]


# --- tenants ------------------------------------------------------------------------------------


def test_tenant_created_with_its_admin_is_read_back_from_the_database(
    app: Platform, fresh: Fresh
) -> None:
    slug = unique_slug()
    email = unique_email("boss")
    created = app.create_tenant(
        CreateTenant(
            name="Acme Ltd",
            slug=slug,
            admin_email=email.upper(),
            admin_password=PASSWORD,
            config={"theme": "dark"},
            billing_info={"plan": "free"},
        )
    )
    assert created.admin is not None

    reader = fresh()
    tenant = reader.get_tenant_by_slug(slug)
    assert (tenant.id, tenant.name, tenant.status) == (created.tenant.id, "Acme Ltd", "active")
    assert (tenant.config, tenant.billing_info) == ({"theme": "dark"}, {"plan": "free"})
    admin = reader.find_user_by_email(tenant.id, email)
    assert admin is not None
    assert (admin.id, admin.email, admin.role) == (created.admin.id, email, "admin")
    assert event_names(reader, tenant.id) == ["Tenant.Created"]


def test_tenant_update_config_and_status_are_read_back(app: Platform, fresh: Fresh) -> None:
    tenant_id = create_tenant(app)
    app.update_tenant(
        UpdateTenant(tenant_id=tenant_id, name="Acme Inc", billing_info={"plan": "gold"})
    )
    app.set_tenant_config(tenant_id, "smtp.host", "mail.acme.io")
    app.set_tenant_config(tenant_id, "gone", True)
    app.unset_tenant_config(tenant_id, "gone")
    # active -> suspended -> active -> cancelled
    for status in ("suspended", "active", "cancelled"):
        app.set_tenant_status(tenant_id, status)

    reader = fresh()
    tenant = reader.get_tenant(tenant_id)
    assert (tenant.name, tenant.billing_info, tenant.status) == (
        "Acme Inc",
        {"plan": "gold"},
        "cancelled",
    )
    assert tenant.config == {"smtp.host": "mail.acme.io"}
    assert reader.get_tenant_config(tenant_id, "smtp.host") == "mail.acme.io"
    assert tenant.version == 10
    assert event_names(reader, tenant_id) == [
        "Tenant.Created",
        "Tenant.Updated",
        "Tenant.ConfigSet",
        "Tenant.ConfigSet",
        "Tenant.ConfigUnset",
        "Tenant.SessionsRevoked",  # leaving active revokes the tenant's sessions
        "Tenant.StatusChanged",
        "Tenant.StatusChanged",
        "Tenant.SessionsRevoked",
        "Tenant.StatusChanged",
    ]


# --- users, login, roles, preferences -----------------------------------------------------------


def test_registered_user_and_its_updates_are_read_back(app: Platform, fresh: Fresh) -> None:
    tenant_id = create_tenant(app)
    email = unique_email()
    user = register(app, tenant_id, email=email.upper(), status="invited", password=None)
    app.update_user(
        UpdateUser(tenant_id=tenant_id, user_id=user.id, status="active", role="manager")
    )
    app.update_user(UpdateUser(tenant_id=tenant_id, user_id=user.id, name="Ann Smith"))

    got = fresh().get_user(tenant_id, user.id)
    assert (got.email, got.name, got.role, got.status) == (email, "Ann Smith", "manager", "active")
    # 4 events + CredentialsRevoked (the role change revokes sessions)
    assert (got.tenant_id, got.password_hash, got.version) == (tenant_id, None, 5)


def test_login_and_password_change_are_read_back(
    app: Platform, fresh: Fresh, clock: FakeClock
) -> None:
    slug = unique_slug()
    tenant_id = create_tenant(app, slug=slug)
    email = unique_email()
    user = register(app, tenant_id, email=email)
    login = app.login(Login(tenant_slug=slug, email=email, password=PASSWORD))
    # the session opened by login resolves from the database...
    session, session_user = fresh().resolve_session(login.token)
    assert (session.user_id, session_user.id) == (user.id, user.id)
    app.change_password(
        ChangePassword(tenant_id=tenant_id, user_id=user.id, new_password="a new passphrase")
    )

    reader = fresh()
    got = reader.get_user(tenant_id, user.id)
    assert got.last_login == clock.now
    assert got.password_hash is not None
    assert got.password_hash.startswith("$argon2id$")
    # ...until the password changes: that ends it, and only the new password works
    with pytest.raises(AuthenticationError):
        reader.resolve_session(login.token)
    assert reader.authenticate(slug, email, "a new passphrase").id == user.id
    with pytest.raises(AuthenticationError):
        reader.authenticate(slug, email, PASSWORD)


def test_roles_and_their_assignment_are_read_back(
    app: Platform, fresh: Fresh, clock: FakeClock
) -> None:
    tenant_id = create_tenant(app)
    user = register(app, tenant_id)
    # role names are global: make them unique in the shared database
    suffix = uuid.uuid4().hex[:8]
    auditor = app.create_role(CreateRole(name=f"Auditor {suffix}", permissions=["audit:read"]))
    writer = app.create_role(CreateRole(name=f"Writer {suffix}", permissions=["workflows:write"]))
    admin_id = uuid.uuid4()
    app.set_user_roles(SetUserRoles(tenant_id, user.id, [auditor.id], assigned_by=admin_id))
    first_at = clock.now
    clock.now += timedelta(minutes=5)
    app.set_user_roles(SetUserRoles(tenant_id, user.id, [auditor.id, writer.id]))

    reader = fresh()
    assert reader.get_role_by_name(f"auditor {suffix}").id == auditor.id
    got = reader.get_user(tenant_id, user.id)
    assert got.role_assignments == [
        {"role_id": auditor.id, "assigned_by": admin_id, "assigned_at": first_at},
        {"role_id": writer.id, "assigned_by": None, "assigned_at": clock.now},
    ]
    assert {"audit:read", "workflows:write"} <= reader.effective_permissions(got)


def test_builtin_roles_are_seeded_once(app: Platform, fresh: Fresh) -> None:
    seeded = app.seed_builtin_roles()
    again = fresh().seed_builtin_roles()
    assert [r.id for r in again] == [r.id for r in seeded]
    assert [r.name for r in again] == ["admin", "manager", "user", "viewer"]


def test_preferences_set_change_delete_and_revive_are_read_back(
    app: Platform, fresh: Fresh
) -> None:
    tenant_id = create_tenant(app)
    ann = register(app, tenant_id)
    pref = app.set_preference(SetPreference(tenant_id, ann.id, "theme", "dark"))
    app.set_preference(SetPreference(tenant_id, ann.id, "theme", "light"))
    app.set_preference(SetPreference(tenant_id, ann.id, "lang", "en"))
    app.delete_preference(tenant_id, ann.id, "lang")

    reader = fresh()
    assert reader.get_preference(tenant_id, ann.id, "theme").value == "light"
    assert event_names(reader, pref.id) == ["UserPreference.Set", "UserPreference.Changed"]
    with pytest.raises(NotFoundError):
        reader.get_preference(tenant_id, ann.id, "lang")
    # setting a deleted key again revives the same aggregate
    revived = reader.set_preference(SetPreference(tenant_id, ann.id, "lang", "fr"))
    assert fresh().get_preference(tenant_id, ann.id, "lang").id == revived.id


# --- workflows ----------------------------------------------------------------------------------


def test_workflow_lifecycle_and_definition_versions_are_read_back(
    app: Platform, fresh: Fresh, clock: FakeClock
) -> None:
    tenant_id = create_tenant(app)
    first = {"steps": [{"id": "a", "kind": "echo"}]}
    second = {"steps": [{"id": "a", "kind": "echo"}, {"id": "b", "kind": "echo"}]}
    workflow = app.create_workflow(
        CreateWorkflow(tenant_id=tenant_id, name="Onboarding", definition=first)
    )
    app.update_definition(UpdateDefinition(tenant_id, workflow.id, second, expected_version=1))
    app.rename_workflow(tenant_id, workflow.id, "Offboarding")
    app.activate_workflow(tenant_id, workflow.id)
    app.pause_workflow(tenant_id, workflow.id)
    app.activate_workflow(tenant_id, workflow.id)
    app.archive_workflow(tenant_id, workflow.id)

    got = fresh().get_workflow(tenant_id, workflow.id)
    assert (got.name, got.status, got.current_version) == ("Offboarding", "archived", 2)
    assert (got.definition, got.definition_at(1)) == (second, first)
    assert got.versions[0]["created_at"] == clock.now
    with pytest.raises(NotFoundError):
        fresh().get_workflow(create_tenant(app), workflow.id)  # another tenant's


# --- marketplace --------------------------------------------------------------------------------


def publish(app: Platform, **overrides: Any) -> Any:
    fields: dict[str, Any] = {
        "name": "Notify",
        "category": "messaging",
        "definition": SKILL_DEFINITION,
        "price": "9.5",
        **overrides,
    }
    return app.publish_skill(PublishSkill(**fields))


def test_skill_review_lifecycle_is_read_back(app: Platform, fresh: Fresh) -> None:
    skill = publish(app)
    app.reject_skill(skill.id, "no docs")
    app.publish_skill_version(PublishSkillVersion(skill.id, "1.1.0", SKILL_DEFINITION))
    app.approve_skill(skill.id)
    app.rate_skill(skill.id, "4.25")

    got = fresh().get_skill(skill.id)
    assert (got.status, got.latest_version, got.price, got.rating) == (
        "active",
        "1.1.0",
        Decimal("9.50"),
        Decimal("4.25"),
    )
    assert [v["version"] for v in got.versions] == ["1.0.0", "1.1.0"]
    assert got.review_reason is None  # cleared by the new version
    assert fresh().repository.get(skill.id, version=2).review_reason == "no docs"
    assert event_names(fresh(), skill.id) == [
        "MarketplaceSkill.Published",
        "MarketplaceSkill.Rejected",
        "MarketplaceSkill.VersionPublished",
        "MarketplaceSkill.Approved",
        "MarketplaceSkill.Rated",
    ]


def test_installation_lifecycle_is_read_back(app: Platform, fresh: Fresh) -> None:
    tenant_id = create_tenant(app)
    skill = app.approve_skill(publish(app).id)
    first = app.install_skill(InstallSkill(tenant_id, skill.id, {"channel": "#ops"}))
    app.update_installation(
        UpdateInstallation(tenant_id, first.id, config={"channel": "#dev"}, status="disabled")
    )
    app.uninstall_skill(tenant_id, first.id)
    # uninstalling freed the (tenant, skill) key: a fresh instance can install it again
    second = fresh().install_skill(InstallSkill(tenant_id, skill.id, {"channel": "#new"}))

    reader = fresh()
    old = reader.get_installation(tenant_id, first.id)
    assert (old.config, old.status, old.uninstalled) == ({"channel": "#dev"}, "disabled", True)
    new = reader.get_installation(tenant_id, second.id)
    assert (new.config, new.status, new.skill_version) == ({"channel": "#new"}, "active", "1.0.0")
    assert reader.get_skill(skill.id).downloads == 2


# --- notifications and conversations ------------------------------------------------------------


def test_notification_delivery_is_read_back(app: Platform, fresh: Fresh, clock: FakeClock) -> None:
    tenant_id = create_tenant(app)
    user = register(app, tenant_id)
    n = app.send_notification(
        SendNotification(tenant_id, user.id, "run.failed", "Run failed", "Step b failed", "email")
    )
    sent_at = clock.now
    app.mark_notification_sent(tenant_id, n.id, provider_id="ses-123")
    clock.now += timedelta(seconds=3)
    app.mark_notification_delivered(tenant_id, n.id)
    app.mark_notification_read(tenant_id, n.id, reader_id=user.id)

    got = fresh().get_notification(tenant_id, n.id)
    assert (got.status, got.provider_id, got.attempts, got.priority) == (
        "delivered",
        "ses-123",
        1,
        "medium",
    )
    assert (got.sent_at, got.delivered_at, got.read_at) == (sent_at, clock.now, clock.now)


def test_notification_failures_are_read_back(app: Platform, fresh: Fresh) -> None:
    tenant_id = create_tenant(app)
    user = register(app, tenant_id)
    n = app.send_notification(
        SendNotification(tenant_id, user.id, "info", "Hello", "Hi", "sms", priority="high")
    )
    app.mark_notification_failed(tenant_id, n.id, "timeout", permanent=False)
    app.mark_notification_failed(tenant_id, n.id, "number gone", permanent=True)

    got = fresh().get_notification(tenant_id, n.id)
    assert (got.status, got.attempts, got.failure_reason) == ("failed", 2, "number gone")


def test_conversation_turn_is_read_back_and_fenced(app: Platform, fresh: Fresh) -> None:
    tenant_id = create_tenant(app)
    user = register(app, tenant_id)
    turn = app.record_conversation(
        RecordConversation(tenant_id, user.id, "s-1", "hi", "hello", {"lang": "en"})
    )

    reader = fresh()
    got = reader.get_conversation(tenant_id, turn.id)
    assert (got.user_id, got.session_id, got.input_text, got.output_text) == (
        user.id,
        "s-1",
        "hi",
        "hello",
    )
    assert got.context_data == {"lang": "en"}
    with pytest.raises(NotFoundError):
        reader.get_conversation(create_tenant(app), turn.id)
