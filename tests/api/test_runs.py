"""Runs over HTTP: start (idempotent), read, cancel, approvals, the event history and stream."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.factories import active_workflow, create_api_key, create_tenant, login
from tests.support.http import MISSING, PROBLEM

APPROVAL = {
    "name": "needs-approval",
    "input_schema": {
        "type": "object",
        "required": ["amount"],
        "properties": {"amount": {"type": "number"}},
    },
    "steps": [
        {"id": "prepare", "uses": "transform", "with": {"amount": "${{ input.amount }}"}},
        {"id": "approve", "uses": "approval", "needs": ["prepare"], "with": {"role": "manager"}},
        {"id": "finish", "uses": "noop", "needs": ["approve"]},
    ],
}
QUICK = {
    "name": "quick",
    "steps": [
        {"id": "one", "uses": "noop", "with": {"n": 1}},
        {"id": "two", "uses": "transform", "needs": ["one"], "with": {"m": 2}},
    ],
}


@pytest.fixture(scope="module")
def workflow(client, tenant) -> str:  # type: ignore[no-untyped-def]
    return active_workflow(client, tenant.admin_headers, APPROVAL)


def start(client, headers, workflow_id, input=None, **extra):  # type: ignore[no-untyped-def]
    return client.post(
        f"/v1/workflows/{workflow_id}/runs",
        json={"input": {"amount": 10} if input is None else input},
        headers={**headers, **extra},
    )


# -- start ----------------------------------------------------------------------------------


def test_user_starts_a_run_and_gets_202(client, users, workflow) -> None:
    r = start(client, users["user"].headers, workflow)
    assert r.status_code == 202, r.text
    body = r.json()
    assert set(body) == {"id", "status", "workflow_version"}
    assert body["status"] == "running"
    assert body["workflow_version"] == 1
    assert r.headers["location"] == f"/v1/runs/{body['id']}"


def test_run_start_answers_202_when_the_read_your_writes_wait_fails(
    client, container, tenant, monkeypatch
) -> None:
    import psycopg

    import projections.status

    wf = active_workflow(client, tenant.admin_headers, QUICK)

    def unreachable(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise psycopg.OperationalError("the read model's database cannot be reached")

    # the run is saved; the wait for the read model then fails
    monkeypatch.setattr(projections.status, "wait_for", unreachable)
    r = start(client, tenant.admin_headers, wf, input={})
    monkeypatch.undo()
    assert r.status_code == 202, r.text
    run_id = r.json()["id"]
    assert r.headers["location"] == f"/v1/runs/{run_id}"
    # exactly one run: the client had its answer and does not start another
    container.wait_projected(container.runs.recorder.max_notification_id(), app="runs")
    listed = client.get(f"/v1/runs?workflow_id={wf}", headers=tenant.admin_headers).json()
    assert [item["id"] for item in listed["items"]] == [run_id]


def test_a_run_of_pure_steps_succeeds(client, tenant) -> None:
    wf = active_workflow(client, tenant.admin_headers, QUICK)
    r = start(client, tenant.admin_headers, wf, input={})
    assert r.status_code == 202
    run = client.get(f"/v1/runs/{r.json()['id']}", headers=tenant.admin_headers).json()
    assert run["status"] == "succeeded"
    assert [s["id"] for s in run["steps"]] == ["one", "two"]
    assert run["steps"][1]["output"] == {"m": 2}
    assert run["steps"][0]["attempts"] == 1


def test_input_is_validated_against_the_input_schema(client, users, workflow) -> None:
    r = start(client, users["user"].headers, workflow, input={"amount": "ten"})
    assert r.status_code == 422
    assert r.headers["content-type"].startswith(PROBLEM)
    assert r.json()["errors"][0]["pointer"].startswith("/input")
    missing = start(client, users["user"].headers, workflow, input={})
    assert missing.status_code == 422


def test_unknown_body_fields_are_422(client, users, workflow) -> None:
    r = client.post(
        f"/v1/workflows/{workflow}/runs", json={"inputs": {}}, headers=users["user"].headers
    )
    assert r.status_code == 422


def test_only_active_workflows_start_runs(client, tenant) -> None:
    r = client.post(
        "/v1/workflows", json={"name": "Draft", "definition": QUICK}, headers=tenant.admin_headers
    )
    draft = r.json()["id"]
    assert start(client, tenant.admin_headers, draft, input={}).status_code == 409
    wf = active_workflow(client, tenant.admin_headers, QUICK)
    client.post(f"/v1/workflows/{wf}/pause", headers=tenant.admin_headers)
    assert start(client, tenant.admin_headers, wf, input={}).status_code == 409


def test_viewer_cannot_start_but_a_user_api_key_can(client, tenant, users, workflow) -> None:
    assert start(client, users["viewer"].headers, workflow).status_code == 403
    key = create_api_key(client, tenant, role="user")
    r = start(client, key.headers, workflow)
    assert r.status_code == 202
    run = client.get(f"/v1/runs/{r.json()['id']}", headers=key.headers).json()
    assert run["started_by"] == f"api-key:{key.id}"


def test_same_idempotency_key_and_body_return_the_first_run(client, users, workflow) -> None:
    h = {**users["user"].headers}
    key = {"Idempotency-Key": uuid.uuid4().hex}
    first = start(client, h, workflow, **key)
    again = start(client, h, workflow, **key)
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    assert "idempotent-replayed" not in first.headers
    assert again.headers.get("idempotent-replayed") == "true"
    # the same key with another body is refused
    other = start(client, h, workflow, input={"amount": 99}, **key)
    assert other.status_code == 422
    assert other.headers["content-type"].startswith(PROBLEM)
    # another key starts another run
    assert (
        start(client, h, workflow, **{"Idempotency-Key": "k2-" + key["Idempotency-Key"]}).json()[
            "id"
        ]
        != first.json()["id"]
    )


def test_suspended_tenant_starts_no_runs(client, admin_headers) -> None:
    tenant = create_tenant(client)
    wf = active_workflow(client, tenant.admin_headers, QUICK)
    r = client.patch(
        f"/v1/tenants/{tenant.id}", json={"status": "suspended"}, headers=admin_headers
    )
    assert r.status_code == 200
    refused = start(client, tenant.admin_headers, wf, input={})
    assert refused.status_code in (401, 409)
    # nothing was started
    client.patch(f"/v1/tenants/{tenant.id}", json={"status": "active"}, headers=admin_headers)
    # the suspension revoked the admin's session: log in again
    headers = login(client, tenant.slug, tenant.admin.email, tenant.admin.password)
    runs = client.get("/v1/runs", headers=headers).json()["items"]
    assert runs == []


def test_starting_another_tenants_workflow_is_a_404(client, other_tenant, workflow) -> None:
    foreign = start(client, other_tenant.admin_headers, workflow)
    missing = start(client, other_tenant.admin_headers, MISSING)
    assert foreign.status_code == missing.status_code == 404


# -- read -----------------------------------------------------------------------------------


def test_a_run_shows_every_step(client, users, workflow) -> None:
    run_id = start(client, users["user"].headers, workflow).json()["id"]
    r = client.get(f"/v1/runs/{run_id}", headers=users["viewer"].headers)
    assert r.status_code == 200
    run = r.json()
    assert run["workflow_id"] == workflow
    assert run["input"] == {"amount": 10}
    steps = {s["id"]: s for s in run["steps"]}
    assert list(steps) == ["prepare", "approve", "finish"]
    assert steps["prepare"]["status"] == "succeeded"
    assert steps["prepare"]["output"] == {"amount": 10}
    assert steps["approve"]["status"] == "running"
    assert steps["approve"]["waiting"]["kind"] == "approval"
    assert steps["finish"]["status"] == "pending"
    for step in run["steps"]:
        assert {"status", "attempts", "output", "error"} <= set(step)
    assert r.headers["etag"] == f'"{run["version"]}"'


def test_list_filters_by_workflow_and_status_newest_first(client) -> None:
    tenant = create_tenant(client)
    slow = active_workflow(client, tenant.admin_headers, APPROVAL)
    quick = active_workflow(client, tenant.admin_headers, QUICK)
    a = start(client, tenant.admin_headers, slow).json()["id"]
    b = start(client, tenant.admin_headers, quick, input={}).json()["id"]
    c = start(client, tenant.admin_headers, slow).json()["id"]
    h = tenant.admin_headers
    assert [r["id"] for r in client.get("/v1/runs", headers=h).json()["items"]] == [c, b, a]
    by_wf = client.get(f"/v1/runs?workflow_id={slow}", headers=h).json()["items"]
    assert [r["id"] for r in by_wf] == [c, a]
    done = client.get("/v1/runs?status=succeeded", headers=h).json()["items"]
    assert [r["id"] for r in done] == [b]
    page = client.get("/v1/runs?limit=2", headers=h).json()
    assert len(page["items"]) == 2
    assert page["next_cursor"]
    rest = client.get(f"/v1/runs?limit=2&cursor={page['next_cursor']}", headers=h).json()
    assert [r["id"] for r in rest["items"]] == [a]
    assert client.get("/v1/runs?status=bogus", headers=h).status_code == 422


def test_another_tenants_run_is_a_404_everywhere(client, users, workflow, other_tenant) -> None:
    run_id = start(client, users["user"].headers, workflow).json()["id"]
    h = other_tenant.admin_headers
    for rid in (run_id, MISSING):
        assert client.get(f"/v1/runs/{rid}", headers=h).status_code == 404
        assert client.get(f"/v1/runs/{rid}/events", headers=h).status_code == 404
        assert client.get(f"/v1/runs/{rid}/events/stream", headers=h).status_code == 404
        assert client.post(f"/v1/runs/{rid}/cancel", headers=h).status_code == 404
        assert client.post(f"/v1/runs/{rid}/steps/approve/approve", headers=h).status_code == 404
        assert client.post(f"/v1/runs/{rid}/steps/approve/reject", headers=h).status_code == 404
    assert run_id not in {r["id"] for r in client.get("/v1/runs", headers=h).json()["items"]}


# -- cancel ---------------------------------------------------------------------------------


def test_user_cancels_a_running_run_once(client, users, workflow) -> None:
    run_id = start(client, users["user"].headers, workflow).json()["id"]
    r = client.post(
        f"/v1/runs/{run_id}/cancel",
        json={"reason": "changed my mind"},
        headers=users["user"].headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled"
    assert r.json()["reason"] == "changed my mind"
    assert {s["status"] for s in r.json()["steps"]} <= {"succeeded", "cancelled"}
    again = client.post(f"/v1/runs/{run_id}/cancel", headers=users["user"].headers)
    assert again.status_code == 409


def test_viewer_cannot_cancel(client, users, workflow) -> None:
    run_id = start(client, users["user"].headers, workflow).json()["id"]
    assert (
        client.post(f"/v1/runs/{run_id}/cancel", headers=users["viewer"].headers).status_code == 403
    )


# -- pause and resume -----------------------------------------------------------------------


def test_a_manager_pauses_and_resumes_a_run(client, users, workflow) -> None:
    h = users["manager"].headers
    run_id = start(client, users["user"].headers, workflow).json()["id"]
    paused = client.post(f"/v1/runs/{run_id}/pause", headers=h)
    assert paused.status_code == 200, paused.text
    assert paused.json()["status"] == "paused"
    assert client.post(f"/v1/runs/{run_id}/pause", headers=h).status_code == 409
    stale = f'"{paused.json()["version"] - 1}"'
    r = client.post(f"/v1/runs/{run_id}/resume", headers={**h, "If-Match": stale})
    assert r.status_code == 412, r.text
    resumed = client.post(f"/v1/runs/{run_id}/resume",
                          headers={**h, "If-Match": paused.headers["etag"]})  # fmt: skip
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["status"] == "running"
    assert client.post(f"/v1/runs/{run_id}/resume", headers=h).status_code == 409


def test_a_finished_run_cannot_be_paused_and_a_user_cannot_pause(client, users, workflow) -> None:
    run_id = start(client, users["user"].headers, workflow).json()["id"]
    assert client.post(f"/v1/runs/{run_id}/pause", headers=users["user"].headers).status_code == 403
    client.post(f"/v1/runs/{run_id}/cancel", headers=users["user"].headers)
    r = client.post(f"/v1/runs/{run_id}/pause", headers=users["manager"].headers)
    assert r.status_code == 409, r.text


# -- approvals ------------------------------------------------------------------------------


def test_manager_approves_and_the_run_finishes(client, users, workflow) -> None:
    run_id = start(client, users["user"].headers, workflow).json()["id"]
    r = client.post(
        f"/v1/runs/{run_id}/steps/approve/approve",
        json={"comment": "ok"},
        headers=users["manager"].headers,
    )
    assert r.status_code == 200, r.text
    run = r.json()
    assert run["status"] == "succeeded"
    step = next(s for s in run["steps"] if s["id"] == "approve")
    assert step["output"] == {"approved": True, "by": users["manager"].id, "comment": "ok"}


def test_a_higher_role_may_approve(client, users, workflow) -> None:
    run_id = start(client, users["user"].headers, workflow).json()["id"]
    r = client.post(f"/v1/runs/{run_id}/steps/approve/approve", headers=users["admin"].headers)
    assert r.status_code == 200
    assert r.json()["status"] == "succeeded"


@pytest.mark.parametrize("role", ["viewer", "user"])
def test_a_lower_role_may_not_approve_or_reject(client, users, workflow, role) -> None:
    run_id = start(client, users["user"].headers, workflow).json()["id"]
    for decision in ("approve", "reject"):
        r = client.post(f"/v1/runs/{run_id}/steps/approve/{decision}", headers=users[role].headers)
        assert r.status_code == 403
        assert r.headers["content-type"].startswith(PROBLEM)


def test_reject_fails_the_step_and_the_run(client, users, workflow) -> None:
    run_id = start(client, users["user"].headers, workflow).json()["id"]
    r = client.post(
        f"/v1/runs/{run_id}/steps/approve/reject",
        json={"comment": "too much"},
        headers=users["manager"].headers,
    )
    assert r.status_code == 200
    run = r.json()
    assert run["status"] == "failed"
    step = next(s for s in run["steps"] if s["id"] == "approve")
    assert step["status"] == "failed"
    assert step["error"]["kind"] == "rejected"
    assert "too much" in step["error"]["message"]


def test_approving_a_step_that_does_not_wait_is_a_conflict(client, users, workflow) -> None:
    run_id = start(client, users["user"].headers, workflow).json()["id"]
    h = users["manager"].headers
    assert client.post(f"/v1/runs/{run_id}/steps/prepare/approve", headers=h).status_code == 409
    assert client.post(f"/v1/runs/{run_id}/steps/ghost/approve", headers=h).status_code == 404
    client.post(f"/v1/runs/{run_id}/steps/approve/approve", headers=h)
    assert client.post(f"/v1/runs/{run_id}/steps/approve/approve", headers=h).status_code == 409


def test_decision_body_is_validated(client, users, workflow) -> None:
    run_id = start(client, users["user"].headers, workflow).json()["id"]
    r = client.post(
        f"/v1/runs/{run_id}/steps/approve/approve",
        json={"comment": 5, "x": 1},
        headers=users["manager"].headers,
    )
    assert r.status_code == 422


# -- If-Match on run writes -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("cancel", {"reason": "late"}),
        ("pause", {}),
        ("steps/approve/approve", {}),
        ("steps/approve/reject", {}),
    ],
)
def test_a_stale_if_match_on_a_run_write_is_412_and_changes_nothing(
    client, users, workflow, path, body
) -> None:
    h = users["manager"].headers
    run_id = start(client, users["user"].headers, workflow).json()["id"]
    read = client.get(f"/v1/runs/{run_id}", headers=h)
    etag = read.headers["etag"]
    assert etag == f'"{read.json()["version"]}"'
    stale = f'"{read.json()["version"] - 1}"'
    events = len(client.get(f"/v1/runs/{run_id}/events", headers=h).json()["items"])
    r = client.post(f"/v1/runs/{run_id}/{path}", json=body, headers={**h, "If-Match": stale})
    assert r.status_code == 412, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    after = client.get(f"/v1/runs/{run_id}", headers=h)
    assert (after.json()["status"], after.headers["etag"]) == ("running", etag)
    assert len(client.get(f"/v1/runs/{run_id}/events", headers=h).json()["items"]) == events
    # the ETag that GET returned is the one a write may be based on
    ok = client.post(f"/v1/runs/{run_id}/{path}", json=body, headers={**h, "If-Match": etag})
    assert ok.status_code == 200, ok.text
    assert ok.headers["etag"] != etag


def _approval_definition(role: object) -> dict:  # type: ignore[type-arg]
    return {
        "name": "role-check",
        "steps": [{"id": "approve", "uses": "approval", "with": {"role": role}}],
    }


def test_an_approval_role_is_matched_in_any_case(client, tenant, users) -> None:
    wf = active_workflow(client, tenant.admin_headers, _approval_definition("Manager"))
    run_id = start(client, users["user"].headers, wf, input={}).json()["id"]
    r = client.post(f"/v1/runs/{run_id}/steps/approve/approve", headers=users["manager"].headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "succeeded"


@pytest.mark.parametrize("role", ["", "  ", None, "no-such-role"])
def test_an_empty_or_unknown_approval_role_is_refused_at_submit(client, tenant, role) -> None:
    r = client.post(
        "/v1/workflows",
        json={"name": f"WF {uuid.uuid4().hex[:6]}", "definition": _approval_definition(role)},
        headers=tenant.admin_headers,
    )
    assert r.status_code == 422, r.text
    assert "/definition/steps/0/with/role" in {e["pointer"] for e in r.json()["errors"]}


@pytest.mark.parametrize("given", ["", None])
def test_a_templated_empty_approval_role_fails_and_no_viewer_approves(
    client, tenant, given
) -> None:
    wf = active_workflow(client, tenant.admin_headers, _approval_definition("${{ input.r }}"))
    key = create_api_key(client, tenant, "viewer")
    admin_key = create_api_key(client, tenant, "user")
    run_id = start(client, admin_key.headers, wf, input={"r": given}).json()["id"]
    r = client.post(f"/v1/runs/{run_id}/steps/approve/approve", headers=key.headers)
    assert r.status_code in (403, 409), r.text
    run = client.get(f"/v1/runs/{run_id}", headers=tenant.admin_headers).json()
    step = run["steps"][0]
    assert step["status"] == "failed"
    assert step["error"]["kind"] == "invalid_input"


def test_a_templated_unknown_approval_role_is_refused_at_decision(client, tenant, users) -> None:
    wf = active_workflow(client, tenant.admin_headers, _approval_definition("${{ input.r }}"))
    run_id = start(client, users["user"].headers, wf, input={"r": "Ghost-Role"}).json()["id"]
    r = client.post(f"/v1/runs/{run_id}/steps/approve/approve", headers=users["admin"].headers)
    assert r.status_code == 409, r.text
    assert "not a known role" in r.json()["detail"]
    # a templated known role in another case is approved as usual
    run_id = start(client, users["user"].headers, wf, input={"r": "MANAGER"}).json()["id"]
    r = client.post(f"/v1/runs/{run_id}/steps/approve/approve", headers=users["manager"].headers)
    assert r.status_code == 200, r.text


# -- events ---------------------------------------------------------------------------------


def test_events_are_the_runs_history_in_order(client, users, workflow) -> None:
    run_id = start(client, users["user"].headers, workflow).json()["id"]
    client.post(f"/v1/runs/{run_id}/steps/approve/approve", headers=users["manager"].headers)
    r = client.get(f"/v1/runs/{run_id}/events", headers=users["viewer"].headers)
    assert r.status_code == 200
    events = r.json()["items"]
    assert [e["sequence"] for e in events] == list(range(1, len(events) + 1))
    types = [e["type"] for e in events]
    assert types[0] == "Started"
    assert "Approved" in types
    assert types[-1] == "Succeeded"
    assert events[0]["data"]["input"] == {"amount": 10}


def _sse(text: str) -> list[dict[str, str]]:
    out = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            if ":" in line and not line.startswith(":"):
                k, _, v = line.partition(":")
                fields[k] = v.lstrip()
        if "id" in fields:
            out.append(fields)
    return out


def test_stream_of_an_ended_run_replays_its_events_and_ends(client, users, workflow) -> None:
    run_id = start(client, users["user"].headers, workflow).json()["id"]
    client.post(f"/v1/runs/{run_id}/steps/approve/approve", headers=users["manager"].headers)
    listed = client.get(f"/v1/runs/{run_id}/events", headers=users["viewer"].headers).json()
    with client.stream(
        "GET", f"/v1/runs/{run_id}/events/stream", headers=users["viewer"].headers
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        body = r.read().decode()
    events = _sse(body)
    assert [int(e["id"]) for e in events] == [e["sequence"] for e in listed["items"]]
    assert events[-1]["event"] == "Succeeded"
    assert json.loads(events[0]["data"])["type"] == "Started"


def test_stream_resumes_after_last_event_id(client, users, workflow) -> None:
    run_id = start(client, users["user"].headers, workflow).json()["id"]
    client.post(f"/v1/runs/{run_id}/cancel", headers=users["user"].headers)
    h = {**users["viewer"].headers, "Last-Event-ID": "2"}
    with client.stream("GET", f"/v1/runs/{run_id}/events/stream", headers=h) as r:
        events = _sse(r.read().decode())
    assert events
    assert int(events[0]["id"]) == 3
    assert events[-1]["event"] == "Cancelled"
    bad = client.get(
        f"/v1/runs/{run_id}/events/stream",
        headers={**users["viewer"].headers, "Last-Event-ID": "x"},
    )
    assert bad.status_code == 422


def test_stream_is_live_until_the_run_ends(client, users, workflow, monkeypatch) -> None:
    import threading

    from api.routes import run_events as runs_routes

    run_id = start(client, users["user"].headers, workflow).json()["id"]
    # the approval is given once the stream has sent what there was: not a sleep, an event
    first_read: list[str] = []
    streaming = threading.Event()
    events_after = runs_routes._events_after

    def reading(*args: object) -> list:  # type: ignore[type-arg]
        batch = events_after(*args)
        if not streaming.is_set():
            first_read.extend(e.type for e in batch)
            streaming.set()
        return batch

    monkeypatch.setattr(runs_routes, "_events_after", reading)

    def approve_once_streaming() -> None:
        streaming.wait(timeout=30)
        client.post(f"/v1/runs/{run_id}/steps/approve/approve", headers=users["manager"].headers)

    thread = threading.Thread(target=approve_once_streaming)
    thread.start()
    with client.stream(
        "GET", f"/v1/runs/{run_id}/events/stream", headers=users["viewer"].headers
    ) as r:
        events = _sse(r.read().decode())
    thread.join()
    assert first_read  # the stream had begun
    assert "Approved" not in first_read  # approved while the stream was open
    names = [e["event"] for e in events]
    assert "Approved" in names
    assert names[-1] == "Succeeded"


def test_a_stream_ends_when_its_session_ends(client, tenant, users, workflow, monkeypatch) -> None:
    import threading

    from api.routes import run_events as runs_routes
    from tests.factories import create_user

    viewer = create_user(client, tenant, "viewer")
    run_id = start(client, users["user"].headers, workflow).json()["id"]
    streaming = threading.Event()
    events_after = runs_routes._events_after

    def reading(*args: object) -> list:  # type: ignore[type-arg]
        batch = events_after(*args)
        streaming.set()
        return batch

    monkeypatch.setattr(runs_routes, "_events_after", reading)

    def log_out_then_approve() -> None:
        streaming.wait(timeout=30)
        assert client.post("/v1/auth/logout", headers=viewer.headers).status_code == 204
        client.post(f"/v1/runs/{run_id}/steps/approve/approve", headers=users["manager"].headers)

    thread = threading.Thread(target=log_out_then_approve)
    thread.start()
    with client.stream("GET", f"/v1/runs/{run_id}/events/stream", headers=viewer.headers) as r:
        assert r.status_code == 200
        events = _sse(r.read().decode())
    thread.join()
    names = [e["event"] for e in events]
    assert "Started" in names  # what the session could read while it lasted
    assert "Approved" not in names  # nothing after it ended
    assert client.get(f"/v1/runs/{run_id}", headers=viewer.headers).status_code == 401


def test_a_step_failure_shows_the_targets_retry_after(client, container, tenant) -> None:
    # the failure an http step's worker records, applied directly to a step no worker touches
    # (an approval waits inline), so no worker of the session races this test
    call = {"id": "call", "uses": "approval", "with": {"role": "admin"}}
    definition = {"name": "limited", "steps": [call]}
    wf = active_workflow(client, tenant.admin_headers, definition)
    r = client.post(f"/v1/workflows/{wf}/runs", json={"input": {}}, headers=tenant.admin_headers)
    assert r.status_code == 202, r.text
    run_id = uuid.UUID(r.json()["id"])
    run = container.runs.get_run(tenant.id, run_id)
    assert run.steps["call"]["waiting"] is not None
    run.fail_step("call", None, 1, error_kind="http_status", message="status 429",
                  retryable=True, retry_after_s=30.0)  # fmt: skip
    container.runs.save(run)
    container.wait_projected(container.runs.recorder.max_notification_id(), app="runs")
    got = client.get(f"/v1/runs/{run_id}", headers=tenant.admin_headers).json()
    (step,) = got["steps"]
    assert step["error"] == {"kind": "http_status", "message": "status 429", "retryable": True,
                             "retry_after_s": 30.0}  # fmt: skip


# -- secrets ------------------------------------------------------------------------------------


def test_a_viewer_never_sees_an_installations_secret_in_a_run(client, tenant, users) -> None:
    from tests.factories import PLATFORM_ADMIN_HEADERS

    h = tenant.admin_headers
    name = f"echo-{uuid.uuid4().hex[:8]}"
    skill = client.post("/v1/marketplace/skills", json={
        "name": name, "category": "tools",
        "definition": {"implementation": {"kind": "python", "entry_point": "echo"}},
    }, headers=users["user"].headers).json()  # fmt: skip
    approve = f"/v1/marketplace/skills/{skill['id']}/approve"
    assert client.post(approve, headers=PLATFORM_ADMIN_HEADERS).status_code == 200
    secret = "sk-live-do-not-leak-42"
    r = client.post("/v1/installations",
                    json={"skill_id": skill["id"], "config": {"api_key": secret}},
                    headers=h)  # fmt: skip
    assert r.status_code == 201, r.text
    definition = {"name": "leak", "steps": [
        {"id": "s", "uses": f"skill:{name}", "with": {"k": "${{ config.api_key }}"}},
    ]}  # fmt: skip
    wf = active_workflow(client, h, definition)
    run_id = start(client, users["user"].headers, wf, input={}).json()["id"]
    viewer = users["viewer"].headers
    run = client.get(f"/v1/runs/{run_id}", headers=viewer)
    assert run.status_code == 200, run.text
    events = client.get(f"/v1/runs/{run_id}/events", headers=viewer)
    assert events.status_code == 200, events.text
    assert secret not in run.text
    assert secret not in events.text
    step = run.json()["steps"][0]
    assert step["input"] == {"k": "********"}
