"""Workflows and runs the browser tests start through the JSON API."""

from __future__ import annotations

import uuid
from typing import Any

APPROVAL = {
    "name": "needs-approval",
    "steps": [
        {"id": "prepare", "uses": "transform", "with": {"amount": 10}},
        {"id": "approve", "uses": "approval", "needs": ["prepare"], "with": {"role": "manager"}},
        {"id": "finish", "uses": "noop", "needs": ["approve"]},
    ],
}
TIMED = {
    "name": "timed",
    "steps": [
        {"id": "prepare", "uses": "transform", "with": {"items": [1, 2, 3]}},
        {"id": "hold", "uses": "approval", "needs": ["prepare"], "with": {"role": "manager"}},
        {"id": "pause", "uses": "wait", "needs": ["hold"], "with": {"seconds": 1}},
        {"id": "each", "uses": "transform", "needs": ["pause"],
         "foreach": "${{ steps.prepare.output.items }}", "with": {"n": "${{ item }}"}},
        {"id": "side", "uses": "noop", "needs": ["prepare"]},
        {"id": "finish", "uses": "noop", "needs": ["each", "side"]},
    ],
}  # fmt: skip
"""Held at ``hold`` until someone approves: a test opens a page first, then lets it go on."""


def active_workflow(api: Any, headers: dict[str, str], definition: dict[str, Any]) -> str:
    r = api.post("/v1/workflows", headers=headers,
                 json={"name": f"WF {uuid.uuid4().hex[:6]}", "definition": definition})  # fmt: skip
    assert r.status_code == 201, r.text
    wf_id: str = r.json()["id"]
    assert api.post(f"/v1/workflows/{wf_id}/activate", headers=headers).status_code == 200
    return wf_id


def start_run(api: Any, headers: dict[str, str], workflow_id: str) -> str:
    r = api.post(f"/v1/workflows/{workflow_id}/runs", headers=headers, json={"input": {}})
    assert r.status_code == 202, r.text
    run_id: str = r.json()["id"]
    return run_id


def approve(api: Any, headers: dict[str, str], run_id: str, step_id: str) -> None:
    r = api.post(f"/v1/runs/{run_id}/steps/{step_id}/approve", headers=headers)
    assert r.status_code == 200, r.text
