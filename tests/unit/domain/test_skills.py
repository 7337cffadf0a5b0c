"""Marketplace skills (review lifecycle, versions) and installations (config, uniqueness)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest

from domain.identity.commands import CreateTenant
from domain.kernel.errors import ConflictError, NotFoundError, TransitionError, ValidationError
from domain.marketplace.commands import (
    InstallSkill,
    PublishSkill,
    PublishSkillVersion,
    UpdateInstallation,
)
from domain.marketplace.skills import MarketplaceSkill
from domain.platform import Platform

DEFINITION = {
    "config_schema": {
        "type": "object",
        "properties": {"channel": {"type": "string"}, "retries": {"type": "integer"}},
        "required": ["channel"],
    },
    "implementation": {"kind": "http", "url": "https://skills.example.com/notify"},
}


def publish(app: Platform, **overrides: Any) -> MarketplaceSkill:
    fields: dict[str, Any] = {
        "name": "Notify",
        "category": "messaging",
        "definition": DEFINITION,
        "price": "9.5",
        **overrides,
    }
    return app.publish_skill(PublishSkill(**fields))


@pytest.fixture
def skill(app: Platform) -> MarketplaceSkill:
    return app.approve_skill(publish(app).id)


def test_published_skill_awaits_review(app: Platform) -> None:
    skill = publish(app)
    assert (skill.status, skill.latest_version, skill.price, skill.downloads) == (
        "pending",
        "1.0.0",
        Decimal("9.50"),
        0,
    )
    assert skill.config_schema == DEFINITION["config_schema"]
    (event,) = app.events.get(skill.id)
    assert type(event).__qualname__ == "MarketplaceSkill.Published"


def test_invalid_skill_reports_every_problem_and_stores_nothing(app: Platform, stored) -> None:
    with pytest.raises(ValidationError) as err:
        publish(
            app,
            name="",
            category="",
            version="1.0",
            price="-1",
            is_public="yes",
            definition={
                "config_schema": {"type": "nonsense"},
                "implementation": {"kind": "shell"},
            },
        )
    assert [p for p, _ in err.value.problems] == [
        "/name",
        "/category",
        "/definition/config_schema/type",
        "/definition/implementation/kind",
        "/version",
        "/price",
        "/is_public",
    ]
    assert stored() == 0


@pytest.mark.parametrize(
    "implementation",
    [{"kind": "http", "url": "ftp://x"}, {"kind": "python", "entry_point": "not valid!"}, "x"],
)
def test_implementation_must_be_http_url_or_python_entry_point(
    app: Platform, implementation: Any
) -> None:
    with pytest.raises(ValidationError):
        publish(app, definition={"implementation": implementation})
    assert publish(app, definition={"implementation": {"kind": "python", "entry_point": "echo"}})


def test_review_lifecycle(app: Platform, stored) -> None:
    skill = publish(app)
    rejected = app.reject_skill(skill.id, "no docs")
    assert (rejected.status, rejected.review_reason) == ("rejected", "no docs")
    before = stored()
    with pytest.raises(TransitionError):
        app.approve_skill(skill.id)  # a rejected skill needs a new version first
    assert stored() == before
    app.publish_skill_version(PublishSkillVersion(skill.id, "1.1.0", DEFINITION))
    assert app.approve_skill(skill.id).status == "active"
    assert app.archive_skill(skill.id).status == "archived"
    with pytest.raises(TransitionError):
        app.publish_skill_version(PublishSkillVersion(skill.id, "2.0.0", DEFINITION))


def test_new_version_must_be_greater_and_returns_to_review(
    app: Platform, skill: MarketplaceSkill
) -> None:
    with pytest.raises(ValidationError) as err:
        app.publish_skill_version(PublishSkillVersion(skill.id, "1.0.0", DEFINITION))
    assert err.value.problems[0][0] == "/version"
    updated = app.publish_skill_version(PublishSkillVersion(skill.id, "1.0.1", {}))
    assert (updated.status, updated.latest_version, updated.config_schema) == (
        "pending",
        "1.0.1",
        None,
    )
    assert [v["version"] for v in updated.versions] == ["1.0.0", "1.0.1"]


def test_rating_is_between_0_and_5(app: Platform, skill: MarketplaceSkill) -> None:
    assert app.rate_skill(skill.id, "4.25").rating == Decimal("4.25")
    with pytest.raises(ValidationError):
        app.rate_skill(skill.id, 5.5)


def test_install_validates_config_against_the_skills_schema(
    app: Platform, tenant_id: UUID, skill: MarketplaceSkill, stored
) -> None:
    before = stored()
    with pytest.raises(ValidationError) as err:
        app.install_skill(InstallSkill(tenant_id, skill.id, {"retries": "three"}))
    assert sorted(p for p, _ in err.value.problems) == ["/config", "/config/retries"]
    assert stored() == before
    installation = app.install_skill(InstallSkill(tenant_id, skill.id, {"channel": "#ops"}))
    assert (installation.status, installation.skill_version) == ("active", "1.0.0")
    assert app.get_skill(skill.id).downloads == 1


def test_only_active_public_skills_can_be_installed(app: Platform, tenant_id: UUID) -> None:
    pending = publish(app)
    with pytest.raises(ConflictError):
        app.install_skill(InstallSkill(tenant_id, pending.id, {"channel": "x"}))
    private = app.approve_skill(publish(app, is_public=False).id)
    with pytest.raises(NotFoundError):
        app.install_skill(InstallSkill(tenant_id, private.id, {"channel": "x"}))
    with pytest.raises(NotFoundError):
        app.install_skill(InstallSkill(tenant_id, uuid4()))


def test_a_skill_installs_once_per_tenant_until_uninstalled(
    app: Platform, tenant_id: UUID, skill: MarketplaceSkill, stored
) -> None:
    first = app.install_skill(InstallSkill(tenant_id, skill.id, {"channel": "a"}))
    before = stored()
    with pytest.raises(ConflictError, match="already installed"):
        app.install_skill(InstallSkill(tenant_id, skill.id, {"channel": "b"}))
    assert stored() == before
    # another tenant may install it too
    other = app.create_tenant(CreateTenant(name="Other", slug="other")).tenant.id
    app.install_skill(InstallSkill(other, skill.id, {"channel": "c"}))
    # uninstalling frees the key
    app.uninstall_skill(tenant_id, first.id)
    second = app.install_skill(InstallSkill(tenant_id, skill.id, {"channel": "d"}))
    assert second.id != first.id
    assert app.get_skill(skill.id).downloads == 3


def test_update_installation_reconfigures_and_toggles(
    app: Platform, tenant_id: UUID, skill: MarketplaceSkill
) -> None:
    inst = app.install_skill(InstallSkill(tenant_id, skill.id, {"channel": "a"}))
    updated = app.update_installation(
        UpdateInstallation(tenant_id, inst.id, config={"channel": "b"}, status="disabled")
    )
    assert (updated.config, updated.status) == ({"channel": "b"}, "disabled")
    assert app.update_installation(UpdateInstallation(tenant_id, inst.id, status="active"))
    with pytest.raises(ValidationError):
        app.update_installation(UpdateInstallation(tenant_id, inst.id, config={}))
    with pytest.raises(ValidationError):
        app.update_installation(UpdateInstallation(tenant_id, inst.id, status="paused"))


def test_uninstalled_installation_cannot_change(
    app: Platform, tenant_id: UUID, skill: MarketplaceSkill, stored
) -> None:
    inst = app.install_skill(InstallSkill(tenant_id, skill.id, {"channel": "a"}))
    app.uninstall_skill(tenant_id, inst.id)
    before = stored()
    with pytest.raises(ConflictError):
        app.uninstall_skill(tenant_id, inst.id)
    with pytest.raises(ConflictError):
        app.update_installation(UpdateInstallation(tenant_id, inst.id, status="active"))
    assert stored() == before


def test_another_tenants_installation_is_not_found(
    app: Platform, tenant_id: UUID, skill: MarketplaceSkill
) -> None:
    other = app.create_tenant(CreateTenant(name="Other", slug="other")).tenant.id
    inst = app.install_skill(InstallSkill(tenant_id, skill.id, {"channel": "a"}))
    with pytest.raises(NotFoundError):
        app.uninstall_skill(other, inst.id)


def test_an_install_that_keeps_losing_races_gives_up_with_a_conflict_and_stores_nothing(
    app: Platform, tenant_id: UUID, skill: MarketplaceSkill, stored, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eventsourcing.persistence import IntegrityError

    attempts: list[int] = []

    def always_clashing(*aggregates: Any, **kwargs: Any) -> None:
        attempts.append(len(aggregates))
        raise IntegrityError("another install counted a download first")

    before = stored()
    monkeypatch.setattr(app, "save", always_clashing)
    with pytest.raises(ConflictError) as err:
        app.install_skill(InstallSkill(tenant_id, skill.id, {"channel": "a"}))
    assert attempts == [3, 3]  # installation, key and skill, twice
    assert (err.value.resource_type, err.value.resource_id) == ("installation", skill.id)
    assert str(skill.id) in str(err.value)
    assert stored() == before
