"""Audit-only records: a sensitive read and a failed login are one immutable event each."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from domain.audit.sensitive_reads import SecurityEvent, SensitiveRead, record_sensitive_read
from domain.kernel.actor import Actor, acting_as
from domain.kernel.errors import ValidationError
from domain.platform import Platform


def test_a_sensitive_read_records_who_read_which_fields(app: Platform, tenant_id: UUID) -> None:
    reader = Actor(user_id="u-1", tenant_id=str(tenant_id), kind="user", request_id="r-9")
    resource_id = uuid4()
    with acting_as(reader):
        read = record_sensitive_read(
            app,
            tenant_id=tenant_id,
            resource_type="user",
            resource_id=resource_id,
            fields=["name", "email", "name"],
        )
    (event,) = app.events.get(read.id)
    assert type(event).__qualname__ == "SensitiveRead.Recorded"
    stored = app.repository.get(read.id)
    assert isinstance(stored, SensitiveRead)
    assert (stored.tenant_id, stored.resource_type, stored.resource_id, stored.fields) == (
        tenant_id,
        "user",
        str(resource_id),
        ["email", "name"],
    )
    assert event.meta == {  # type: ignore[attr-defined]
        "user_id": "u-1",
        "tenant_id": str(tenant_id),
        "kind": "user",
        "request_id": "r-9",
    }


def test_a_long_resource_id_is_cut_to_255_characters(app: Platform) -> None:
    read = record_sensitive_read(app, tenant_id=None, resource_type="export", resource_id="x" * 300)
    assert read.resource_id == "x" * 255
    assert read.fields == []


@pytest.mark.parametrize("resource_type", ["", "t" * 101])
def test_a_resource_type_of_0_or_over_100_characters_is_refused_and_stores_nothing(
    app: Platform, stored, resource_type: str
) -> None:
    with pytest.raises(ValidationError) as err:
        record_sensitive_read(app, tenant_id=None, resource_type=resource_type, resource_id="x")
    assert [p.pointer for p in err.value.problems] == ["/resource_type"]
    assert stored() == 0


def test_a_security_event_is_one_recorded_event() -> None:
    tenant_id, user_id = uuid4(), uuid4()
    event = SecurityEvent(tenant_id=tenant_id, kind="login_failed", user_id=user_id)
    (recorded,) = event.collect_events()
    assert type(recorded).__qualname__ == "SecurityEvent.Recorded"
    assert (event.tenant_id, event.kind, event.user_id) == (tenant_id, "login_failed", user_id)
