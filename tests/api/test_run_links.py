"""Run links over HTTP: sub-workflow definitions (validation, the published schema), a run's
parent and children, signals (``POST /v1/runs/{id}/signals/{name}``) and reruns
(``POST /v1/runs/{id}/rerun``), each fenced by tenant."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.test_runs import active_workflow
from tests.support.http import MISSING, PROBLEM
from tests.support.polling import wait_until

pytestmark = pytest.mark.timeout(120)

CHILD = {"name": "child", "steps": [{"id": "one", "uses": "transform", "with": "${{ input }}"}],
         "output": "${{ steps.one.output }}"}  # fmt: skip
WAITS = {"name": "waits", "steps": [
    {"id": "go", "uses": "signal", "with": {"name": "go"}},
    {"id": "after", "uses": "fail", "needs": ["go"], "with": {"message": "after the signal"}},
]}  # fmt: skip


@pytest.fixture(scope="module")
def worker(container: Any) -> Iterator[Any]:
    """A step worker for this module (sub-workflow steps run on workers)."""
    from api.background import start_worker
    from engine.runtime.worker import WorkerConfig

    started = start_worker(container, WorkerConfig(concurrency=8, lease_s=5.0))
    yield started
    started.stop()
    container.background.remove(started)


def named_workflow(client: Any, headers: dict[str, str], definition: dict[str, Any]) -> str:
    """An active workflow with a unique name (its id); the name is ``definition['name']``."""
    r = client.post("/v1/workflows", json={"name": definition["name"], "definition": definition},
                    headers=headers)  # fmt: skip
    assert r.status_code == 201, r.text
    wf_id: str = r.json()["id"]
    assert client.post(f"/v1/workflows/{wf_id}/activate", headers=headers).status_code == 200
    return wf_id


def start(client: Any, headers: dict[str, str], wf: str, input: Any = None) -> str:
    r = client.post(f"/v1/workflows/{wf}/runs", json={"input": input or {}}, headers=headers)
    assert r.status_code == 202, r.text
    run_id: str = r.json()["id"]
    return run_id


def ended(client: Any, headers: dict[str, str], run_id: str) -> dict[str, Any]:
    def get() -> dict[str, Any] | None:
        run: dict[str, Any] = client.get(f"/v1/runs/{run_id}", headers=headers).json()
        return run if run["status"] in ("succeeded", "failed", "cancelled") else None

    found: dict[str, Any] = wait_until(get, 30, message=f"run {run_id} to end")
    return found


def test_the_published_schema_describes_sub_workflows_and_signals(client, tenant) -> None:
    schema = client.get("/v1/schemas/workflow-definition", headers=tenant.admin_headers).json()
    uses = schema["$defs"]["Step"]["properties"]["uses"]
    assert "workflow:" in uses["pattern"]
    assert "signal" in uses["pattern"]
    assert "workflow:<name>[@<version>]" in uses["description"]


def test_a_sub_workflow_of_an_unknown_workflow_is_refused_at_submit(client, tenant) -> None:
    definition = {"name": "p", "steps": [{"id": "sub", "uses": "workflow:no-such-workflow"}]}
    r = client.post("/v1/workflows", json={"name": "parent", "definition": definition},
                    headers=tenant.admin_headers)  # fmt: skip
    assert r.status_code == 422
    assert r.headers["content-type"].startswith(PROBLEM)
    [problem] = r.json()["errors"]
    assert problem["pointer"] == "/definition/steps/0/uses"
    assert "no workflow named 'no-such-workflow'" in problem["message"]


def test_a_run_shows_its_children_and_each_child_its_parent(client, tenant, worker) -> None:
    child = {**CHILD, "name": f"child-{uuid.uuid4().hex[:6]}"}
    named_workflow(client, tenant.admin_headers, child)
    parent = {"name": "parent", "steps": [
        {"id": "fan", "uses": f"workflow:{child['name']}", "foreach": "[1, 2, 3]",
         "with": {"n": "${{ item }}"}}], "output": "${{ steps.fan.output }}"}  # fmt: skip
    wf = active_workflow(client, tenant.admin_headers, parent)
    run = ended(client, tenant.admin_headers, start(client, tenant.admin_headers, wf))
    assert run["status"] == "succeeded", run
    assert run["output"] == [{"n": 1}, {"n": 2}, {"n": 3}]
    assert run["parent_run_id"] is None
    assert len(run["children"]) == 3
    for i, child_id in enumerate(run["children"]):
        shown = client.get(f"/v1/runs/{child_id}", headers=tenant.admin_headers).json()
        assert shown["parent_run_id"] == run["id"]
        assert shown["input"] == {"n": i + 1}  # item order
    items = run["steps"][0]["items"]
    assert [item["output"] for item in items] == [{"n": 1}, {"n": 2}, {"n": 3}]


def test_a_signal_is_accepted_with_202_and_resumes_the_run(client, tenant, users) -> None:
    wf = active_workflow(client, tenant.admin_headers, WAITS)
    run_id = start(client, tenant.admin_headers, wf)
    r = client.post(f"/v1/runs/{run_id}/signals/go", json={"ok": 1}, headers=users["user"].headers)
    assert r.status_code == 202, r.text
    assert r.json() == {"run_id": run_id, "name": "go", "step_id": "go", "index": None}
    run = client.get(f"/v1/runs/{run_id}", headers=tenant.admin_headers).json()
    assert run["steps"][0]["output"] == {"ok": 1}
    assert run["status"] == "failed"  # the step after the signal ran: it fails on purpose
    # an ended run takes no signal
    again = client.post(f"/v1/runs/{run_id}/signals/go", json={}, headers=tenant.admin_headers)
    assert again.status_code == 409
    assert again.headers["content-type"].startswith(PROBLEM)


def test_a_signal_nobody_waits_for_is_buffered(client, tenant) -> None:
    definition = {"name": "other", "steps": [
        {"id": "go", "uses": "signal", "with": {"name": "go"}}]}  # fmt: skip
    run_id = start(client, tenant.admin_headers, active_workflow(client, tenant.admin_headers,
                                                                 definition))  # fmt: skip
    r = client.post(f"/v1/runs/{run_id}/signals/later", json=[1], headers=tenant.admin_headers)
    assert r.status_code == 202
    assert r.json()["step_id"] is None


def test_signals_are_fenced_by_tenant_and_validated(client, tenant, other_tenant, users) -> None:
    run_id = start(client, tenant.admin_headers, active_workflow(client, tenant.admin_headers,
                                                                 WAITS))  # fmt: skip
    foreign = client.post(f"/v1/runs/{run_id}/signals/go", json={},
                          headers=other_tenant.admin_headers)  # fmt: skip
    assert foreign.status_code == 404
    missing = client.post(f"/v1/runs/{MISSING}/signals/go", json={}, headers=tenant.admin_headers)
    assert missing.status_code == 404
    bad = client.post(f"/v1/runs/{run_id}/signals/a%20b", json={}, headers=tenant.admin_headers)
    assert bad.status_code == 422
    viewer = client.post(f"/v1/runs/{run_id}/signals/go", json={}, headers=users["viewer"].headers)
    assert viewer.status_code == 403
    run = client.get(f"/v1/runs/{run_id}", headers=tenant.admin_headers).json()
    assert run["steps"][0]["status"] == "running"  # nothing was recorded


def test_a_failed_run_is_rerun_from_its_failed_step(client, tenant) -> None:
    definition = {"name": "two", "steps": [
        {"id": "a", "uses": "transform", "with": {"x": 1}},
        {"id": "b", "uses": "fail", "needs": ["a"], "with": {"message": "${{ input.why }}"}},
        {"id": "c", "uses": "noop", "needs": ["b"]},
    ]}  # fmt: skip
    wf = active_workflow(client, tenant.admin_headers, definition)
    first = start(client, tenant.admin_headers, wf, {"why": "first"})
    r = client.post(f"/v1/runs/{first}/rerun", json={"input": {"why": "again"}},
                    headers=tenant.admin_headers)  # fmt: skip
    assert r.status_code == 202, r.text
    body = r.json()
    assert set(body) == {"id", "rerun_of", "reused"}
    assert (body["rerun_of"], body["reused"]) == (first, ["a"])
    assert r.headers["location"] == f"/v1/runs/{body['id']}"
    run = client.get(f"/v1/runs/{body['id']}", headers=tenant.admin_headers).json()
    assert run["rerun_of"] == first
    assert run["input"] == {"why": "again"}
    steps = {s["id"]: s for s in run["steps"]}
    assert steps["a"]["reused_from"] == first
    assert steps["b"]["error"]["message"] == "again"


def test_reruns_are_refused_while_running_for_unknown_steps_and_across_tenants(
    client, tenant, other_tenant
) -> None:
    run_id = start(client, tenant.admin_headers, active_workflow(client, tenant.admin_headers,
                                                                 WAITS))  # fmt: skip
    running = client.post(f"/v1/runs/{run_id}/rerun", json={}, headers=tenant.admin_headers)
    assert running.status_code == 409
    client.post(f"/v1/runs/{run_id}/cancel", headers=tenant.admin_headers)
    unknown = client.post(f"/v1/runs/{run_id}/rerun", json={"from_step": "nope"},
                          headers=tenant.admin_headers)  # fmt: skip
    assert unknown.status_code == 422
    foreign = client.post(f"/v1/runs/{run_id}/rerun", json={}, headers=other_tenant.admin_headers)
    assert foreign.status_code == 404
    extra = client.post(f"/v1/runs/{run_id}/rerun", json={"form_step": "go"},
                        headers=tenant.admin_headers)  # fmt: skip
    assert extra.status_code == 422


def test_a_rerun_with_an_idempotency_key_happens_once(client, tenant) -> None:
    definition = {"name": "once", "steps": [
        {"id": "a", "uses": "transform", "with": {"x": 1}},
        {"id": "b", "uses": "fail", "needs": ["a"], "with": {"message": "no"}},
    ]}  # fmt: skip
    first = start(client, tenant.admin_headers, active_workflow(client, tenant.admin_headers,
                                                                definition))  # fmt: skip
    keyed = {**tenant.admin_headers, "Idempotency-Key": f"retry-{uuid.uuid4()}"}
    one = client.post(f"/v1/runs/{first}/rerun", json={}, headers=keyed)
    again = client.post(f"/v1/runs/{first}/rerun", json={}, headers=keyed)
    assert (one.status_code, again.status_code) == (202, 202), again.text
    assert again.json() == one.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in one.headers
    other_body = client.post(f"/v1/runs/{first}/rerun", json={"from_step": "a"}, headers=keyed)
    assert other_body.status_code == 422
    assert other_body.headers["content-type"] == PROBLEM
    fresh = client.post(f"/v1/runs/{first}/rerun", json={}, headers=tenant.admin_headers)
    assert fresh.json()["id"] != one.json()["id"]
