"""Notifications: validation, delivery lifecycle for a dispatcher, reads, event upcasting."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from domain.identity.commands import CreateTenant
from domain.identity.users import User
from domain.kernel.errors import NotFoundError, TransitionError, ValidationError
from domain.kernel.validators import LONG_TEXT_MAX
from domain.messaging.commands import SendNotification
from domain.messaging.notifications import Notification
from domain.platform import Platform


def send(app: Platform, tenant_id: UUID, user: User, **overrides: Any) -> Notification:
    fields: dict[str, Any] = {
        "type": "run.failed",
        "title": "Run failed",
        "message": "Step b failed",
        "channel": "email",
        **overrides,
    }
    return app.send_notification(SendNotification(tenant_id, user.id, **fields))


def test_send_queues_a_pending_notification_with_medium_priority(
    app: Platform, tenant_id: UUID, user: User
) -> None:
    n = send(app, tenant_id, user)
    assert (n.status, n.priority, n.attempts, n.read_at) == ("pending", "medium", 0, None)
    (event,) = app.events.get(n.id)
    assert event.tenant_id == tenant_id  # type: ignore[attr-defined]


def test_a_repeated_idempotency_key_queues_one_notification(
    app: Platform, tenant_id: UUID, user: User
) -> None:
    # A workflow's notify step re-run after a worker died asks again with the same key.
    first = send(app, tenant_id, user, idempotency_key="run-1:tell:1")
    again = send(app, tenant_id, user, idempotency_key="run-1:tell:1")
    other = send(app, tenant_id, user, idempotency_key="run-1:tell:2")
    assert again.id == first.id
    assert other.id != first.id
    assert len(list(app.events.get(first.id))) == 1


def test_invalid_notification_reports_every_problem_and_stores_nothing(
    app: Platform, tenant_id: UUID, user: User, stored
) -> None:
    before = stored()
    with pytest.raises(ValidationError) as err:
        app.send_notification(
            SendNotification(tenant_id, uuid4(), "t", "x" * 256, "", "fax", priority="asap")
        )
    assert [p for p, _ in err.value.problems] == [
        "/title",
        "/message",
        "/channel",
        "/priority",
        "/recipient_user_id",
    ]
    assert stored() == before


def test_sent_then_delivered(app: Platform, tenant_id: UUID, user: User, clock) -> None:
    n = send(app, tenant_id, user)
    app.mark_notification_sent(tenant_id, n.id, provider_id="ses-123")
    clock.advance(timedelta(seconds=3))
    n = app.mark_notification_delivered(tenant_id, n.id)
    assert (n.status, n.provider_id, n.attempts) == ("delivered", "ses-123", 1)
    assert n.delivered_at == clock.now
    assert n.sent_at == clock.now - timedelta(seconds=3)
    with pytest.raises(TransitionError):
        app.mark_notification_sent(tenant_id, n.id)


def test_transient_failure_keeps_it_pending_and_permanent_failure_is_final(
    app: Platform, tenant_id: UUID, user: User, stored
) -> None:
    n = send(app, tenant_id, user)
    n = app.mark_notification_failed(tenant_id, n.id, "smtp timeout", permanent=False)
    assert (n.status, n.attempts, n.failure_reason) == ("pending", 1, "smtp timeout")
    n = app.mark_notification_failed(tenant_id, n.id, "mailbox gone", permanent=True)
    assert (n.status, n.attempts) == ("failed", 2)
    before = stored()
    for mark in (
        lambda: app.mark_notification_sent(tenant_id, n.id),
        lambda: app.mark_notification_delivered(tenant_id, n.id),
        lambda: app.mark_notification_failed(tenant_id, n.id, "again", permanent=True),
    ):
        with pytest.raises(TransitionError):
            mark()
    assert stored() == before


def test_delivered_cannot_be_marked_without_sent(app: Platform, tenant_id: UUID, user: User):
    n = send(app, tenant_id, user)
    with pytest.raises(TransitionError):
        app.mark_notification_delivered(tenant_id, n.id)


def test_mark_read_is_idempotent_and_only_for_the_recipient(
    app: Platform, tenant_id: UUID, user: User, clock, stored
) -> None:
    n = send(app, tenant_id, user)
    with pytest.raises(NotFoundError):
        app.mark_notification_read(tenant_id, n.id, reader_id=uuid4())
    first = app.mark_notification_read(tenant_id, n.id, reader_id=user.id).read_at
    before = stored()
    clock.advance(timedelta(hours=1))
    assert app.mark_notification_read(tenant_id, n.id, reader_id=user.id).read_at == first
    assert stored() == before


def test_another_tenants_notification_is_not_found(
    app: Platform, tenant_id: UUID, user: User
) -> None:
    other = app.create_tenant(CreateTenant(name="Other", slug="other")).tenant.id
    n = send(app, tenant_id, user)
    with pytest.raises(NotFoundError):
        app.mark_notification_sent(other, n.id)


def test_sent_event_is_stored_as_class_version_2(
    app: Platform, tenant_id: UUID, user: User
) -> None:
    n = send(app, tenant_id, user)
    app.mark_notification_sent(tenant_id, n.id, provider_id="p-1")
    _, sent = app.recorder.select_events(n.id)
    assert json.loads(sent.state)["class_version"] == 2


def test_a_v1_sent_event_is_read_back_as_v2(
    app: Platform, tenant_id: UUID, user: User, clock
) -> None:
    n = send(app, tenant_id, user)
    # a Sent event as stored before v2 added provider_id: no provider_id, no class_version
    v1_state = {"timestamp": clock.now, "meta": {"kind": "worker"}, "at": clock.now}
    app.recorder.insert_events(
        [
            StoredEvent(
                originator_id=n.id,
                originator_version=2,
                topic=get_topic(Notification.Sent),
                state=app.mapper.transcoder.encode(v1_state),
            )
        ]
    )
    _, sent = app.events.get(n.id)
    assert isinstance(sent, Notification.Sent)
    assert (sent.at, sent.provider_id) == (clock.now, None)
    restored = app.get_notification(tenant_id, n.id)
    assert (restored.status, restored.sent_at, restored.provider_id) == ("sent", clock.now, None)


def test_a_racing_request_with_the_same_key_gets_the_first_notification(
    app: Platform, tenant_id: UUID, user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = send(app, tenant_id, user, idempotency_key="run-1:tell:1")
    # the second request looked before the first had saved, so it saw nothing
    real_get = app.get_notification
    looked: list[UUID] = []

    def not_saved_yet(tenant: UUID, notification_id: UUID) -> Notification:
        if not looked:
            looked.append(notification_id)
            raise NotFoundError("notification", notification_id)
        return real_get(tenant, notification_id)

    monkeypatch.setattr(app, "get_notification", not_saved_yet)
    again = send(app, tenant_id, user, idempotency_key="run-1:tell:1")
    assert looked == [first.id]
    assert again.id == first.id
    assert len(list(app.events.get(first.id))) == 1


def test_a_message_longer_than_a_text_column_is_refused(
    app: Platform, tenant_id: UUID, user: User, stored
) -> None:
    before = stored()
    with pytest.raises(ValidationError) as err:
        send(app, tenant_id, user, message="x" * (LONG_TEXT_MAX + 1))
    assert [p.pointer for p in err.value.problems] == ["/message"]
    assert stored() == before
