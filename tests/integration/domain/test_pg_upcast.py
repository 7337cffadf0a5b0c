"""A v1 ``Notification.Sent`` row written straight into ``platform_events`` reads back as v2."""

from __future__ import annotations

from typing import Any

import psycopg
from eventsourcing.utils import get_topic

from domain.messaging.commands import SendNotification
from domain.messaging.notifications import Notification
from domain.platform import Platform
from tests.integration.domain.pg_support import (
    EVENTS_TABLE,
    MakePlatform,
    create_tenant,
    decrypt_state,
    encrypt_state,
    register,
)
from tests.support.doubles import FakeClock


def test_a_v1_sent_row_is_upcast_to_v2_when_read(
    app: Platform,
    make_platform: MakePlatform,
    owner_conn: psycopg.Connection[Any],
    clock: FakeClock,
) -> None:
    tenant_id = create_tenant(app)
    user = register(app, tenant_id)
    n = app.send_notification(
        SendNotification(tenant_id, user.id, "run.failed", "Run failed", "Step b failed", "email")
    )
    # a Sent event as written before v2 added provider_id: no provider_id, no class_version
    # (encoded by hand: the mapper would stamp the current class_version 2 into the state)
    v1_state = {"timestamp": clock.now, "meta": {"kind": "worker"}, "at": clock.now}
    owner_conn.execute(
        f"INSERT INTO {EVENTS_TABLE} (originator_id, originator_version, topic, state)"
        " VALUES (%s, %s, %s, %s)",
        (n.id, 2, get_topic(Notification.Sent), encrypt_state(app, v1_state)),
    )

    reader = make_platform()
    (stored,) = reader.recorder.select_events(n.id, gt=1)
    # the row really is v1-shaped
    assert reader.mapper.transcoder.decode(decrypt_state(reader, stored.state)) == v1_state
    _, sent = reader.events.get(n.id)
    assert isinstance(sent, Notification.Sent)
    assert (sent.at, sent.provider_id, sent.meta) == (clock.now, None, {"kind": "worker"})
    restored = reader.get_notification(tenant_id, n.id)
    assert (restored.status, restored.sent_at, restored.provider_id, restored.attempts) == (
        "sent",
        clock.now,
        None,
        1,
    )
    # the aggregate carries on from the upcast event: the next event is v2 at version 3
    reader.mark_notification_delivered(tenant_id, n.id)
    assert make_platform().get_notification(tenant_id, n.id).status == "delivered"


def test_a_v2_sent_event_is_stored_with_class_version_2(
    app: Platform, owner_conn: psycopg.Connection[Any]
) -> None:
    tenant_id = create_tenant(app)
    user = register(app, tenant_id)
    n = app.send_notification(
        SendNotification(tenant_id, user.id, "run.failed", "Run failed", "Step b failed", "email")
    )
    app.mark_notification_sent(tenant_id, n.id, provider_id="p-1")
    row = owner_conn.execute(
        f"SELECT state FROM {EVENTS_TABLE} WHERE originator_id = %s AND originator_version = 2",
        (n.id,),
    ).fetchone()
    assert row is not None
    state = app.mapper.transcoder.decode(decrypt_state(app, bytes(row[0])))
    assert (state["class_version"], state["provider_id"]) == (2, "p-1")
