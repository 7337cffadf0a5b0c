"""Notifications (own inbox, managers send) and conversations (own, reads audited)."""

from __future__ import annotations

import uuid

import pytest

from tests.factories import create_api_key, create_tenant, create_users
from tests.support.http import MISSING
from tests.support.polling import wait_until


def notify(client, headers, recipient, **over):  # type: ignore[no-untyped-def]
    body = {
        "recipient_user_id": recipient,
        "channel": "email",
        "type": "info",
        "title": "Hello",
        "message": "A message",
        "priority": "high",
        **over,
    }
    return client.post("/v1/notifications", json=body, headers=headers)


# -- notifications --------------------------------------------------------------------------


def test_manager_sends_and_the_recipient_reads_it(client, users) -> None:
    r = notify(client, users["manager"].headers, users["viewer"].id)
    assert r.status_code == 201, r.text
    sent = r.json()
    assert sent["status"] == "pending"
    assert sent["read_at"] is None
    inbox = client.get("/v1/notifications", headers=users["viewer"].headers).json()["items"]
    assert sent["id"] in {n["id"] for n in inbox}
    r = client.post(f"/v1/notifications/{sent['id']}/read", headers=users["viewer"].headers)
    assert r.status_code == 200
    assert r.json()["read_at"] is not None
    # idempotent: reading twice keeps the first time
    again = client.post(f"/v1/notifications/{sent['id']}/read", headers=users["viewer"].headers)
    assert again.json()["read_at"] == r.json()["read_at"]
    unread = client.get("/v1/notifications?unread=true", headers=users["viewer"].headers).json()
    assert sent["id"] not in {n["id"] for n in unread["items"]}


def test_inbox_is_own_newest_first_and_paginated(client, tenant) -> None:
    u = create_users(client, tenant)
    ids = [notify(client, tenant.admin_headers, u["user"].id, title=f"T{i}").json()["id"]
           for i in range(3)]  # fmt: skip
    page = client.get("/v1/notifications?limit=2", headers=u["user"].headers).json()
    assert [n["id"] for n in page["items"]] == ids[::-1][:2]
    rest = client.get(
        f"/v1/notifications?limit=2&cursor={page['next_cursor']}", headers=u["user"].headers
    ).json()
    assert [n["id"] for n in rest["items"]] == ids[:1]
    assert client.get("/v1/notifications", headers=u["viewer"].headers).json()["items"] == []


def test_someone_elses_notification_is_a_404(client, users) -> None:
    sent = notify(client, users["manager"].headers, users["viewer"].id).json()
    r = client.post(f"/v1/notifications/{sent['id']}/read", headers=users["user"].headers)
    assert r.status_code == 404
    other = create_tenant(client)
    for nid in (sent["id"], MISSING):
        r = client.post(f"/v1/notifications/{nid}/read", headers=other.admin_headers)
        assert r.status_code == 404


def test_send_validates_its_fields(client, users) -> None:
    h = users["manager"].headers
    r = notify(client, h, users["viewer"].id, channel="pigeon", priority="meh", title="")
    assert r.status_code == 422
    pointers = {e["pointer"] for e in r.json()["errors"]}
    assert {"/channel", "/priority"} <= pointers
    nobody = notify(client, h, MISSING)
    assert nobody.status_code == 422
    assert nobody.json()["errors"][0]["pointer"] == "/recipient_user_id"
    other = create_tenant(client)
    assert notify(client, h, other.admin.id).status_code == 422  # not a user of this tenant


@pytest.mark.parametrize("role", ["viewer", "user"])
def test_below_manager_cannot_send(client, users, role) -> None:
    assert notify(client, users[role].headers, users["viewer"].id).status_code == 403


def test_api_keys_have_no_inbox(client, tenant) -> None:
    key = create_api_key(client, tenant, role="admin")
    assert client.get("/v1/notifications", headers=key.headers).status_code == 403
    assert client.get("/v1/notifications").status_code == 401


# -- conversations --------------------------------------------------------------------------


def turn(client, headers, session, n=0):  # type: ignore[no-untyped-def]
    return client.post(
        "/v1/conversations",
        json={"session_id": session, "input_text": f"q{n}", "output_text": f"a{n}",
              "context_data": {"n": n}},
        headers=headers,
    )  # fmt: skip


def test_record_and_list_own_turns_by_session(client, users) -> None:
    session = uuid.uuid4().hex
    h = users["viewer"].headers
    ids = [turn(client, h, session, n).json()["id"] for n in range(2)]
    turn(client, h, "another-" + session)
    r = client.get(f"/v1/conversations?session_id={session}", headers=h)
    assert r.status_code == 200
    assert [c["id"] for c in r.json()["items"]] == ids
    assert r.json()["items"][0]["context_data"] == {"n": 0}
    # another user of the tenant sees none of them
    theirs = client.get(f"/v1/conversations?session_id={session}", headers=users["user"].headers)
    assert theirs.json()["items"] == []


def test_conversation_reads_are_audited(client, tenant, users) -> None:
    session = uuid.uuid4().hex
    turn(client, users["user"].headers, session)
    client.get(f"/v1/conversations?session_id={session}", headers=users["user"].headers)
    rows = wait_until(
        lambda: client.get(
            f"/v1/audit/events?resource_type=conversation&resource_id=session:{session}",
            headers=tenant.admin_headers,
        ).json()["items"],
        10,
        message="the read to be audited",
    )
    assert rows[0]["user_id"] == users["user"].id
    assert rows[0]["action"] == "SensitiveRead.Recorded"


def test_turns_are_validated(client, users) -> None:
    r = client.post(
        "/v1/conversations",
        json={"session_id": "", "input_text": "", "output_text": "x", "context_data": []},
        headers=users["user"].headers,
    )
    assert r.status_code == 422
    pointers = {e["pointer"] for e in r.json()["errors"]}
    assert "/context_data" in pointers or {"/session_id", "/input_text"} <= pointers
    assert (
        client.post("/v1/conversations", json={}, headers=users["user"].headers).status_code == 422
    )


def test_conversations_need_a_user(client, tenant) -> None:
    key = create_api_key(client, tenant, role="admin")
    assert turn(client, key.headers, "s").status_code == 403
    assert client.get("/v1/conversations", headers=key.headers).status_code == 403
    assert client.get("/v1/conversations").status_code == 401
