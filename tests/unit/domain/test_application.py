"""The Platform application and its shared plumbing: settings, the storability net, and how
a save that lost a race is reported (409, or 412 when the caller sent If-Match)."""

from __future__ import annotations

import base64
from typing import Any
from uuid import UUID

import pytest

from domain.identity.commands import CreateTenant
from domain.kernel.errors import ConflictError, StaleVersionError, ValidationError
from domain.platform import Platform
from domain.workflows.commands import CreateWorkflow


def test_application_is_named_platform() -> None:
    assert Platform.name == "platform"


def test_events_are_encrypted_and_compressed_when_configured(make_app) -> None:
    # eventsourcing.cipher:AESCipher needs pycryptodome, which is not installed here;
    # the cryptography-based cipher is the same AES-GCM
    app = make_app(
        env={
            "CIPHER_TOPIC": "eventsourcing.cryptography:AESCipher",
            "CIPHER_KEY": base64.b64encode(b"k" * 32).decode(),
            "COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor",
        }
    )
    tenant = app.create_tenant(CreateTenant(name="Secret Corp", slug="secret-corp")).tenant
    (raw,) = app.recorder.select_events(tenant.id)
    assert b"Secret Corp" not in raw.state
    assert app.get_tenant(tenant.id).name == "Secret Corp"


def test_default_definition_validator_accepts_any_object(app: Platform) -> None:
    tenant = app.create_tenant(CreateTenant(name="Acme", slug="acme")).tenant
    assert app.validate_definition(tenant.id, {"anything": True}) == []


def test_an_event_holding_nul_is_refused_before_anything_is_stored(
    app: Platform, tenant_id: UUID, stored
) -> None:
    # the aggregate method takes any value; the application's net refuses it at the save
    tenant = app.get_tenant(tenant_id)
    tenant.set_config("motto", {"nested": ["ok", "bad\x00byte"]})
    before = stored()
    with pytest.raises(ValidationError) as err:
        app.save(tenant)
    (problem,) = err.value.problems
    assert problem.pointer == "/value/nested/1"
    assert "NUL" in problem.message
    assert stored() == before


def racing(app: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the next save lose a race: another writer renames the same aggregate first."""
    real_save = app.save

    def save_after_a_concurrent_rename(*aggregates: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(app, "save", real_save)
        other = app.repository.get(aggregates[0].id)
        other.rename("Renamed meanwhile")
        real_save(other)
        return real_save(*aggregates, **kwargs)

    monkeypatch.setattr(app, "save", save_after_a_concurrent_rename)


@pytest.fixture
def workflow_id(app: Platform, tenant_id: UUID) -> UUID:
    return app.create_workflow(CreateWorkflow(tenant_id, name="Onboarding", definition={})).id


def test_a_lost_race_without_if_match_is_a_conflict_naming_the_aggregate(
    app: Platform, tenant_id: UUID, workflow_id: UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    racing(app, monkeypatch)
    with pytest.raises(ConflictError) as err:
        app.activate_workflow(tenant_id, workflow_id)
    assert not isinstance(err.value, StaleVersionError)
    assert (err.value.resource_type, err.value.resource_id) == ("workflow", workflow_id)
    assert f"workflow {workflow_id}" in str(err.value)
    stored = app.get_workflow(tenant_id, workflow_id)
    assert (stored.status, stored.name) == ("draft", "Renamed meanwhile")


def test_a_lost_race_with_if_match_is_a_stale_version(
    app: Platform, tenant_id: UUID, workflow_id: UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    racing(app, monkeypatch)
    with pytest.raises(StaleVersionError) as err:
        app.activate_workflow(tenant_id, workflow_id, expected_version=1)
    assert (err.value.resource_id, err.value.expected, err.value.actual) == (workflow_id, 1, 2)
    assert app.get_workflow(tenant_id, workflow_id).status == "draft"


def test_a_clash_on_a_unique_key_with_if_match_still_current_is_a_conflict(
    app: Platform, tenant_id: UUID, workflow_id: UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the aggregate itself did not move on: the clash was elsewhere in the batch
    from eventsourcing.persistence import IntegrityError

    def clash(*aggregates: Any, **kwargs: Any) -> Any:
        raise IntegrityError("duplicate key")

    monkeypatch.setattr(app, "save", clash)
    with pytest.raises(ConflictError) as err:
        app.activate_workflow(tenant_id, workflow_id, expected_version=1)
    assert not isinstance(err.value, StaleVersionError)
    assert err.value.resource_id == workflow_id
