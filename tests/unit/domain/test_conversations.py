"""Conversation turns: validated, tenant-fenced, immutable."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from domain.identity.commands import CreateTenant
from domain.identity.users import User
from domain.kernel.errors import NotFoundError, ValidationError
from domain.messaging.commands import RecordConversation
from domain.platform import Platform


def test_record_a_turn(app: Platform, tenant_id: UUID, user: User) -> None:
    turn = app.record_conversation(
        RecordConversation(tenant_id, user.id, "s-1", "hi", "hello", {"lang": "en"})
    )
    got = app.get_conversation(tenant_id, turn.id)
    assert (got.session_id, got.input_text, got.output_text) == ("s-1", "hi", "hello")
    assert got.context_data == {"lang": "en"}
    (event,) = app.events.get(turn.id)
    assert event.tenant_id == tenant_id  # type: ignore[attr-defined]


def test_context_defaults_to_empty(app: Platform, tenant_id: UUID, user: User) -> None:
    turn = app.record_conversation(RecordConversation(tenant_id, user.id, "s", "in", "out"))
    assert turn.context_data == {}


def test_invalid_turn_stores_nothing(app: Platform, tenant_id: UUID, user: User, stored) -> None:
    before = stored()
    with pytest.raises(ValidationError) as err:
        app.record_conversation(RecordConversation(tenant_id, uuid4(), "", " ", None, [1]))
    assert [p for p, _ in err.value.problems] == [
        "/session_id",
        "/input_text",
        "/output_text",
        "/context_data",
        "/user_id",
    ]
    assert stored() == before


def test_another_tenants_turn_is_not_found(app: Platform, tenant_id: UUID, user: User) -> None:
    other = app.create_tenant(CreateTenant(name="Other", slug="other")).tenant.id
    turn = app.record_conversation(RecordConversation(tenant_id, user.id, "s", "in", "out"))
    with pytest.raises(NotFoundError):
        app.get_conversation(other, turn.id)
