"""Signed webhooks over HTTP: a good delivery starts one run, a repeated delivery id none, and
every refused delivery (bad signature, old timestamp, tampered body, unknown or deleted hook)
is a 401 that leaves no event."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import psycopg
import pytest

from tests.api.test_runs import APPROVAL, QUICK, active_workflow
from tests.support.http import MISSING, PROBLEM
from tests.support.polling import wait_until


def event_counts(db) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    # notifications are left out: earlier tests' runs may still notify approvers meanwhile
    # (a follower of the runs' events, asynchronous); a delivery never writes one
    with psycopg.connect(db.owner.conninfo) as conn:
        platform = conn.execute(
            "SELECT count(*) FROM platform_events WHERE topic NOT LIKE '%%Notification%%'"
        ).fetchone()
        runs = conn.execute("SELECT count(*) FROM runs_events").fetchone()
        assert platform is not None
        assert runs is not None
        return int(platform[0]), int(runs[0])


def sign(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    mac = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"X-Platinum-Timestamp": ts, "X-Platinum-Signature": f"sha256={mac}",
            "Content-Type": "application/json"}  # fmt: skip


def deliver(client, hook, body: bytes, delivery: str | None = None, **over: str):  # type: ignore[no-untyped-def]
    headers = {**sign(hook["secret"], body), "X-Platinum-Delivery": delivery or str(uuid.uuid4())}
    headers.update(over)
    return client.post(f"/v1/hooks/{hook['id']}", content=body, headers=headers)


@pytest.fixture(scope="module")
def workflow(client, tenant) -> str:  # type: ignore[no-untyped-def]
    return active_workflow(client, tenant.admin_headers, QUICK)


def new_hook(client, headers, workflow_id, **body: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    r = client.post(f"/v1/workflows/{workflow_id}/hooks", json=body, headers=headers)
    assert r.status_code == 201, r.text
    hook: dict[str, Any] = r.json()
    return hook


@pytest.fixture(scope="module")
def hook(client, users, workflow) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return new_hook(client, users["manager"].headers, workflow)


def test_creation_shows_the_secret_once(client, users, workflow, hook) -> None:
    assert hook["secret"].startswith("whsec_")
    assert len(hook["secret"]) > 40
    assert hook["url"].endswith(f"/v1/hooks/{hook['id']}")
    listed = client.get(f"/v1/workflows/{workflow}/hooks", headers=users["manager"].headers)
    assert listed.status_code == 200
    (found,) = [h for h in listed.json()["items"] if h["id"] == hook["id"]]
    assert "secret" not in found
    assert hook["secret"] not in listed.text


def test_a_good_delivery_starts_one_run_and_a_repeat_none(client, users, hook, db) -> None:
    body = json.dumps({"order": 42}).encode()
    delivery = f"d-{uuid.uuid4()}"
    first = deliver(client, hook, body, delivery)
    assert first.status_code == 202, first.text
    run_id = first.json()["run_id"]
    run = client.get(f"/v1/runs/{run_id}", headers=users["manager"].headers).json()
    assert run["input"] == {"order": 42}
    assert run["trigger"] == {"kind": "hook", "id": hook["id"], "delivery": delivery}
    before = event_counts(db)
    again = deliver(client, hook, body, delivery)
    assert again.status_code == 200, again.text
    assert again.json()["run_id"] == run_id
    assert event_counts(db) == before


def test_a_mapping_shapes_the_run_input(client, users, tenant) -> None:
    wf = active_workflow(client, tenant.admin_headers, APPROVAL)
    mapped = new_hook(client, users["manager"].headers, wf,
                      mapping='{"amount": input.order.total}')  # fmt: skip
    body = json.dumps({"order": {"total": 99, "lines": [1, 2]}}).encode()
    r = deliver(client, mapped, body)
    assert r.status_code == 202, r.text
    run = client.get(f"/v1/runs/{r.json()['run_id']}", headers=users["manager"].headers)
    assert run.json()["input"] == {"amount": 99}


def _refusals(hook: dict[str, Any]) -> list[tuple[str, dict[str, str], bytes]]:
    body = json.dumps({"order": 1}).encode()
    good = sign(hook["secret"], body)
    return [
        ("bad signature", {**good, "X-Platinum-Signature": "sha256=" + "0" * 64}, body),
        ("other secret", sign("whsec_not-the-secret", body), body),
        ("tampered body", good, json.dumps({"order": 2}).encode()),
        ("old timestamp", sign(hook["secret"], body, int(time.time()) - 301), body),
        ("future timestamp", sign(hook["secret"], body, int(time.time()) + 301), body),
        ("no signature", {k: v for k, v in good.items() if k != "X-Platinum-Signature"}, body),
        ("no timestamp", {k: v for k, v in good.items() if k != "X-Platinum-Timestamp"}, body),
        ("bare hex", {**good, "X-Platinum-Signature": good["X-Platinum-Signature"][7:]}, body),
    ]


@pytest.mark.parametrize("case", range(8))
def test_refused_deliveries_are_401_and_store_no_event(client, hook, db, case) -> None:
    name, headers, body = _refusals(hook)[case]
    before = event_counts(db)
    r = client.post(f"/v1/hooks/{hook['id']}", content=body,
                    headers={**headers, "X-Platinum-Delivery": str(uuid.uuid4())})  # fmt: skip
    assert r.status_code == 401, (name, r.text)
    assert r.headers["content-type"].startswith(PROBLEM)
    assert event_counts(db) == before


def test_an_unknown_or_deleted_hook_is_the_same_401(client, users, workflow, hook, db) -> None:
    body = b'{"x": 1}'
    signed = {**sign(hook["secret"], body), "X-Platinum-Delivery": "d1"}
    unknown = client.post(f"/v1/hooks/{MISSING}", content=body, headers=signed)
    bad = deliver(client, hook, body, **{"X-Platinum-Signature": "sha256=" + "1" * 64})
    assert unknown.status_code == bad.status_code == 401
    assert unknown.json()["detail"] == bad.json()["detail"]
    doomed = new_hook(client, users["manager"].headers, workflow)
    assert (
        client.delete(f"/v1/hooks/{doomed['id']}", headers=users["manager"].headers).status_code
        == 204
    )
    before = event_counts(db)
    assert deliver(client, doomed, body).status_code == 401
    assert event_counts(db) == before


def test_a_body_over_the_limit_is_413_and_stores_no_event(client, hook, container, db) -> None:
    body = b'{"pad": "' + b"x" * (container.settings.max_body_bytes + 10) + b'"}'
    before = event_counts(db)
    r = deliver(client, hook, body)
    assert r.status_code == 413
    assert r.headers["content-type"].startswith(PROBLEM)
    assert event_counts(db) == before


def test_a_signed_delivery_without_an_id_or_json_is_422(client, hook, db) -> None:
    before = event_counts(db)
    body = b'{"a": 1}'
    r = client.post(f"/v1/hooks/{hook['id']}", content=body, headers=sign(hook["secret"], body))
    assert r.status_code == 422, r.text
    not_json = b"not json"
    r = client.post(f"/v1/hooks/{hook['id']}", content=not_json,
                    headers={**sign(hook["secret"], not_json), "X-Platinum-Delivery": "d",
                             "Content-Type": "text/plain"})  # fmt: skip
    assert r.status_code == 422, r.text
    assert event_counts(db) == before


def test_hook_management_needs_a_manager_and_stays_in_its_tenant(
    client, users, workflow, hook, other_tenant, db
) -> None:
    for role in ("viewer", "user"):
        r = client.post(f"/v1/workflows/{workflow}/hooks", json={}, headers=users[role].headers)
        assert r.status_code == 403
        assert (
            client.delete(f"/v1/hooks/{hook['id']}", headers=users[role].headers).status_code == 403
        )
    theirs = other_tenant.admin_headers
    assert (
        client.post(f"/v1/workflows/{workflow}/hooks", json={}, headers=theirs).status_code == 404
    )
    assert client.get(f"/v1/workflows/{workflow}/hooks", headers=theirs).status_code == 404
    assert client.delete(f"/v1/hooks/{hook['id']}", headers=theirs).status_code == 404
    before = event_counts(db)
    for mapping in ("input.", "steps.a.output", "x" * 5000):
        r = client.post(f"/v1/workflows/{workflow}/hooks", json={"mapping": mapping},
                        headers=users["manager"].headers)  # fmt: skip
        assert r.status_code == 422, (mapping, r.text)
    assert event_counts(db) == before


def test_the_secret_stays_out_of_audit_and_history(client, tenant, users, workflow) -> None:
    created = new_hook(client, users["manager"].headers, workflow)
    admin = tenant.admin_headers

    def audited() -> Any:
        r = client.get("/v1/audit/events", params={"resource_id": created["id"]}, headers=admin)
        assert r.status_code == 200, r.text
        return r if "Hook.Created" in [e["action"] for e in r.json()["items"]] else None

    audit = wait_until(audited, message="the hook's audit row")
    assert created["secret"] not in audit.text
    for path in (f"/v1/history/hook/{created['id']}", f"/v1/history/hook/{created['id']}?as_of=1"):
        r = client.get(path, headers=admin)
        assert r.status_code == 200, r.text
        assert created["secret"] not in r.text


def test_a_deeply_nested_or_huge_number_payload_is_422_whatever_the_media_type(
    client, hook, db
) -> None:
    before = event_counts(db)
    for body in (b"[" * 5000 + b"]" * 5000, b'{"n": ' + b"9" * 5000 + b"}"):
        headers = {**sign(hook["secret"], body), "Content-Type": "text/plain",
                   "X-Platinum-Delivery": str(uuid.uuid4())}  # fmt: skip
        r = client.post(f"/v1/hooks/{hook['id']}", content=body, headers=headers)
        assert r.status_code == 422, r.text
    assert event_counts(db) == before
