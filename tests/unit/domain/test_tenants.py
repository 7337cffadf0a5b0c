"""Tenant rules: creation with its admin, unique slug, status lifecycle, config."""

from __future__ import annotations

from uuid import uuid4

import pytest

from domain.identity.commands import CreateTenant, UpdateTenant
from domain.identity.tenants import Tenant
from domain.kernel.errors import (
    ConflictError,
    NotFoundError,
    StaleVersionError,
    TransitionError,
    ValidationError,
)
from domain.platform import Platform


def test_create_tenant_records_created_event_and_claims_slug(app: Platform) -> None:
    result = app.create_tenant(CreateTenant(name="Acme Ltd", slug="acme"))
    events = app.events.get(result.tenant.id)
    assert [type(e).__qualname__ for e in events] == ["Tenant.Created"]
    tenant = app.get_tenant(result.tenant.id)
    assert (tenant.name, tenant.slug, tenant.status) == ("Acme Ltd", "acme", "active")
    assert tenant.tenant_id == tenant.id
    assert result.admin is None
    assert app.get_tenant_by_slug("acme").id == tenant.id


def test_create_tenant_with_admin_creates_an_admin_user(app: Platform, password: str) -> None:
    result = app.create_tenant(
        CreateTenant(name="Acme", slug="acme", admin_email="Boss@ACME.io", admin_password=password)
    )
    assert result.admin is not None
    admin = app.get_user(result.tenant.id, result.admin.id)
    assert (admin.email, admin.role, admin.tenant_id) == ("boss@acme.io", "admin", result.tenant.id)
    assert admin.password_hash is not None
    assert admin.password_hash.startswith("$argon2id$")


def test_invalid_tenant_reports_every_problem_and_stores_nothing(app: Platform, stored) -> None:
    with pytest.raises(ValidationError) as err:
        app.create_tenant(
            CreateTenant(name="A", slug="Not-Kebab", admin_email="nope", admin_password="short")
        )
    pointers = [p for p, _ in err.value.problems]
    assert pointers == ["/name", "/slug", "/admin_email", "/admin_password"]
    assert stored() == 0


def test_duplicate_slug_is_a_conflict_and_stores_nothing(app: Platform, stored) -> None:
    app.create_tenant(CreateTenant(name="Acme", slug="acme"))
    before = stored()
    with pytest.raises(ConflictError, match="acme"):
        app.create_tenant(CreateTenant(name="Other Acme", slug="acme"))
    assert stored() == before


def test_unknown_slug_and_unknown_id_are_not_found(app: Platform) -> None:
    with pytest.raises(NotFoundError):
        app.get_tenant_by_slug("ghost")
    with pytest.raises(NotFoundError) as err:
        app.get_tenant(uuid4())
    assert err.value.resource_type == "tenant"


def test_status_follows_the_lifecycle_and_cancelled_is_final(app: Platform, stored) -> None:
    tenant_id = app.create_tenant(CreateTenant(name="Acme", slug="acme")).tenant.id
    # active -> suspended -> active -> cancelled are all legal
    for status in ("suspended", "active", "cancelled"):
        assert app.set_tenant_status(tenant_id, status).status == status
    before = stored()
    with pytest.raises(TransitionError) as err:
        app.set_tenant_status(tenant_id, "active")
    assert (err.value.current, err.value.target) == ("cancelled", "active")
    with pytest.raises(ValidationError):
        app.set_tenant_status(tenant_id, "deleted")
    assert stored() == before


def test_update_tenant_changes_fields_and_checks_expected_version(app: Platform) -> None:
    tenant = app.create_tenant(CreateTenant(name="Acme", slug="acme")).tenant
    updated = app.update_tenant(
        UpdateTenant(tenant_id=tenant.id, name="Acme Inc", billing_info={"plan": "gold"})
    )
    assert (updated.name, updated.billing_info, updated.version) == (
        "Acme Inc",
        {"plan": "gold"},
        2,
    )
    with pytest.raises(StaleVersionError) as err:
        app.update_tenant(UpdateTenant(tenant_id=tenant.id, name="Late", expected_version=1))
    assert (err.value.expected, err.value.actual) == (1, 2)


def test_update_with_no_changes_records_nothing(app: Platform, stored) -> None:
    tenant = app.create_tenant(CreateTenant(name="Acme", slug="acme")).tenant
    before = stored()
    app.update_tenant(UpdateTenant(tenant_id=tenant.id, name="Acme", status="active"))
    assert stored() == before


def test_config_keys_are_set_and_unset(app: Platform) -> None:
    tenant_id = app.create_tenant(CreateTenant(name="Acme", slug="acme")).tenant.id
    app.set_tenant_config(tenant_id, "smtp.host", "mail.acme.io")
    assert app.get_tenant_config(tenant_id, "smtp.host") == "mail.acme.io"
    app.unset_tenant_config(tenant_id, "smtp.host")
    with pytest.raises(NotFoundError):
        app.get_tenant_config(tenant_id, "smtp.host")
    with pytest.raises(ValidationError):
        app.set_tenant_config(tenant_id, "bad key!", 1)


def test_cancelled_tenant_rejects_config_changes(app: Platform) -> None:
    tenant_id = app.create_tenant(CreateTenant(name="Acme", slug="acme")).tenant.id
    app.set_tenant_status(tenant_id, "cancelled")
    with pytest.raises(ConflictError):
        app.set_tenant_config(tenant_id, "k", "v")


def test_later_edits_do_not_leak_into_pending_created_event() -> None:
    config = {"a": 1}
    tenant = Tenant(name="Acme", slug="acme", config=config, billing_info={})
    tenant.set_config("b", 2)
    created, config_set = tenant.collect_events()
    assert created.config == {"a": 1}  # type: ignore[attr-defined]
    assert config_set.key == "b"  # type: ignore[attr-defined]


def test_tenant_is_snapshotted_every_50_events(app: Platform) -> None:
    tenant_id = app.create_tenant(CreateTenant(name="Acme", slug="acme")).tenant.id
    for i in range(49):
        app.set_tenant_config(tenant_id, "counter", i)
    assert app.snapshots is not None
    snapshots = list(app.snapshots.get(tenant_id))
    assert [s.originator_version for s in snapshots] == [50]
    assert app.get_tenant(tenant_id).config == {"counter": 48}


def test_replacing_the_config_records_it_whole_and_detached_from_the_input(
    app: Platform,
) -> None:
    tenant = app.create_tenant(CreateTenant(name="Acme", slug="acme", config={"a": 1})).tenant
    new_config = {"b": {"c": 2}}
    updated = app.update_tenant(UpdateTenant(tenant_id=tenant.id, config=new_config))
    new_config["b"]["c"] = 3  # the caller's later edit does not reach the tenant
    assert updated.config == {"b": {"c": 2}}
    last = list(app.events.get(tenant.id))[-1]
    assert last.changes == {"config": {"b": {"c": 2}}}  # type: ignore[attr-defined]
    assert app.get_tenant(tenant.id).config == {"b": {"c": 2}}
