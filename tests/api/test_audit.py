"""Audit over HTTP: filtered events, chain verification, NDJSON export, aggregate history."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.factories import create_tenant
from tests.support.http import MISSING
from tests.support.polling import wait_until

DEFINITION = {"name": "audited", "steps": [{"id": "a", "uses": "noop"}]}


@pytest.fixture(scope="module")
def workflow(client, tenant) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    r = client.post(
        "/v1/workflows",
        json={"name": "Audited", "definition": DEFINITION},
        headers=tenant.admin_headers,
    )
    wf: dict[str, Any] = r.json()
    put = client.put(
        f"/v1/workflows/{wf['id']}/definition",
        json={"definition": {**DEFINITION, "description": "v2"}},
        headers={**tenant.admin_headers, "If-Match": f'"{wf["version"]}"'},
    )
    assert put.status_code == 200
    return wf


def audit_rows(client, headers, query: str = "") -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    r = client.get(f"/v1/audit/events?{query}", headers=headers)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def test_events_filter_by_resource_action_user_and_time(client, tenant, workflow) -> None:
    h = tenant.admin_headers
    rows = wait_until(
        lambda: (
            len(audit_rows(client, h, f"resource_id={workflow['id']}")) >= 2
            and audit_rows(client, h, f"resource_id={workflow['id']}")
        )
    )
    assert [r["action"] for r in rows] == ["Workflow.Created", "Workflow.DefinitionUpdated"]
    assert rows[0]["user_id"] == tenant.admin.id
    assert rows[0]["resource_type"] == "workflow"
    created = audit_rows(client, h, f"action=Workflow.Created&resource_id={workflow['id']}")
    assert len(created) == 1
    by_user = audit_rows(client, h, f"user_id={tenant.admin.id}&resource_type=workflow")
    assert {r["resource_id"] for r in by_user} >= {workflow["id"]}
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    assert audit_rows(client, h, f"since={future}") == []
    assert audit_rows(client, h, f"until={future}&resource_id={workflow['id']}") == rows
    assert client.get("/v1/audit/events?since=yesterday", headers=h).status_code == 422


def test_events_are_paginated(client, tenant, workflow) -> None:
    h = tenant.admin_headers
    wait_until(lambda: len(audit_rows(client, h)) >= 3)
    page = client.get("/v1/audit/events?limit=2", headers=h).json()
    assert len(page["items"]) == 2
    assert page["next_cursor"]
    rest = client.get(f"/v1/audit/events?limit=2&cursor={page['next_cursor']}", headers=h).json()
    assert {r["id"] for r in rest["items"]}.isdisjoint({r["id"] for r in page["items"]})


def test_verify_reports_an_intact_chain(client, tenant, workflow) -> None:
    wait_until(lambda: audit_rows(client, tenant.admin_headers, f"resource_id={workflow['id']}"))
    r = client.get("/v1/audit/verify", headers=tenant.admin_headers)
    assert r.status_code == 200
    body = r.json()
    assert body["ok"] is True
    assert body["events"] >= 2
    assert body["head"]["platform"]["seq"] >= 2
    assert body["broken"] is None


def test_export_streams_ndjson_cloudevents(client, tenant, workflow) -> None:
    wait_until(lambda: audit_rows(client, tenant.admin_headers, f"resource_id={workflow['id']}"))
    with client.stream("GET", "/v1/audit/export", headers=tenant.admin_headers) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(line) for line in r.iter_lines() if line]
    assert lines
    assert all(e["specversion"] == "1.0" and e["tenantid"] == tenant.id for e in lines)
    assert any(e["subject"] == f"workflow/{workflow['id']}" for e in lines)


def test_history_lists_events_and_replays_state(client, tenant, workflow) -> None:
    h = tenant.admin_headers
    wait_until(lambda: audit_rows(client, h, f"resource_id={workflow['id']}"))
    r = client.get(f"/v1/history/workflow/{workflow['id']}", headers=h)
    assert r.status_code == 200, r.text
    events = r.json()["events"]
    assert [e["version"] for e in events] == [1, 2]
    assert events[0]["type"] == "Workflow.Created"
    v1 = client.get(f"/v1/history/workflow/{workflow['id']}?as_of=1", headers=h).json()
    assert v1["version"] == 1
    assert len(v1["state"]["versions"]) == 1
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    latest = client.get(f"/v1/history/workflow/{workflow['id']}?as_of={now}", headers=h).json()
    assert latest["version"] == 2
    long_ago = "2000-01-01T00:00:00Z"
    assert (
        client.get(f"/v1/history/workflow/{workflow['id']}?as_of={long_ago}", headers=h).status_code
        == 404
    )
    assert (
        client.get(f"/v1/history/workflow/{workflow['id']}?as_of=soon", headers=h).status_code
        == 422
    )
    assert (
        client.get(f"/v1/history/workflow/{workflow['id']}?as_of=9", headers=h).status_code == 404
    )
    assert client.get(f"/v1/history/tenant/{workflow['id']}", headers=h).status_code == 404


def test_history_of_a_run(client, tenant) -> None:
    h = tenant.admin_headers
    wf = client.post(
        "/v1/workflows", json={"name": "Run me", "definition": DEFINITION}, headers=h
    ).json()
    client.post(f"/v1/workflows/{wf['id']}/activate", headers=h)
    run = client.post(f"/v1/workflows/{wf['id']}/runs", json={"input": {}}, headers=h).json()
    r = wait_until(
        lambda: (
            (x := client.get(f"/v1/history/run/{run['id']}", headers=h)).status_code == 200 and x
        )
    )
    assert r, "the run never reached the audit log"
    assert r.json()["events"][0]["type"] == "Run.Started"


def test_another_tenants_history_is_a_404(client, tenant, workflow) -> None:
    other = create_tenant(client)
    wait_until(lambda: audit_rows(client, tenant.admin_headers, f"resource_id={workflow['id']}"))
    for target in (workflow["id"], MISSING):
        r = client.get(f"/v1/history/workflow/{target}", headers=other.admin_headers)
        assert r.status_code == 404
    assert audit_rows(client, other.admin_headers, f"resource_id={workflow['id']}") == []


@pytest.mark.parametrize("role", ["viewer", "user", "manager"])
def test_audit_needs_the_audit_permission(client, users, workflow, role) -> None:
    h = users[role].headers
    for path in (
        "/v1/audit/events", "/v1/audit/verify", "/v1/audit/export",
        f"/v1/history/workflow/{workflow['id']}",
    ):  # fmt: skip
        assert client.get(path, headers=h).status_code == 403


# -- secrets never leave ---------------------------------------------------------------------


def test_secrets_are_redacted_in_audit_events_export_and_history(client) -> None:
    tenant = create_tenant(client)
    h = tenant.admin_headers
    secrets = {"smtp_password": "hunter2-smtp", "webhook_url": "https://hooks.example/T0/s3cr3t"}
    for key, value in secrets.items():
        assert client.put(f"/v1/config/{key}", json={"value": value}, headers=h).status_code in (
            200,
            201,
        )
    # the audit log, its export and the tenant's history carry no secret value
    rows = wait_until(
        lambda: (
            len(x := audit_rows(client, h, f"action=Tenant.ConfigSet&resource_id={tenant.id}"))
            == 2
            and x
        )
    )
    assert len(rows) == 2
    with client.stream("GET", "/v1/audit/export", headers=h) as r:
        export = "".join(r.iter_lines())
    history = client.get(f"/v1/history/tenant/{tenant.id}", headers=h)
    assert history.status_code == 200, history.text
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    state = client.get(f"/v1/history/tenant/{tenant.id}?as_of={now}", headers=h)
    assert state.status_code == 200, state.text
    for text in (json.dumps(rows), export, history.text, state.text):
        for value in secrets.values():
            assert value not in text
    assert {r["details"]["value"] for r in rows} == {"********"}


# -- sensitive reads and security events -------------------------------------------------------


def test_reading_another_users_conversation_history_is_audited(client, tenant, users) -> None:
    body = {"session_id": "s-1", "input_text": "hi", "output_text": "hello", "context_data": {}}
    r = client.post("/v1/conversations", json=body, headers=users["user"].headers)
    assert r.status_code == 201, r.text
    conversation = r.json()["id"]
    h = tenant.admin_headers
    url = f"/v1/history/conversation/{conversation}"
    got = wait_until(lambda: (x := client.get(url, headers=h)).status_code == 200 and x)
    assert got, "the conversation never reached the history"
    rows = wait_until(lambda: audit_rows(
        client, h, f"action=SensitiveRead.Recorded&resource_id={conversation}"
    ))  # fmt: skip
    assert rows, "the history read was not audited"
    assert rows[0]["user_id"] == tenant.admin.id
    assert rows[0]["resource_type"] == "conversation"


def test_reading_the_audit_log_is_audited(client, users) -> None:
    h = users["admin"].headers
    audit_rows(client, h, "resource_type=workflow")
    rows = wait_until(lambda: [
        r for r in audit_rows(client, h, "resource_type=audit_events")
        if r["user_id"] == users["admin"].id
    ])  # fmt: skip
    assert rows, "the audit read was not audited"
    assert rows[0]["action"] == "SensitiveRead.Recorded"
