"""Retention end to end: a finished run's data is shredded once past its tenant's age."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import timedelta
from typing import Any

import psycopg

from api.routes.audit import system_connection
from domain.kernel.clock import utc_now
from domain.kernel.retention import RUN_DATA_DAYS
from projections.retention import RetentionSweep
from tests.api.test_erasure import all_audit_rows, dump, verified_export
from tests.factories import active_workflow, create_tenant
from tests.support.polling import wait_until

ECHO = {
    "name": "retained",
    "steps": [
        {"id": "echo", "uses": "transform", "with": {"said": "${{ input.secret }}"}},
        {"id": "again", "uses": "noop", "needs": ["echo"],
         "with": {"heard": "${{ steps.echo.output.said }}"}},
    ],
    "output": {"final": "${{ steps.again.output.heard }}"},
}  # fmt: skip
WAITING = {
    "name": "still-waiting",
    "steps": [{"id": "ask", "uses": "approval", "with": {"role": "manager"}}],
}
ERASED = "[erased]"


def _start(client: Any, headers: dict[str, str], definition: dict[str, Any], secret: str) -> str:
    wf = active_workflow(client, headers, definition)
    r = client.post(f"/v1/workflows/{wf}/runs", json={"input": {"secret": secret}},
                    headers=headers)  # fmt: skip
    assert r.status_code in (201, 202), r.text
    return str(r.json()["id"])


def _sweep(container: Any, days_later: float) -> RetentionSweep:
    """A sweep whose clock reads ``days_later`` days from now (no waiting for days to pass)."""
    later = utc_now() + timedelta(days=days_later)
    return RetentionSweep(container.runs, system_connection(container), clock=lambda: later)


def test_a_bad_retention_setting_is_a_422_and_stores_nothing(client, container) -> None:
    tenant = create_tenant(client)
    before = container.platform.get_tenant(uuid.UUID(tenant.id)).version
    for bad in (0, -3, 1.5, "30", True, [30], 40_000):
        r = client.put(f"/v1/config/{RUN_DATA_DAYS}", json={"value": bad},
                       headers=tenant.admin_headers)  # fmt: skip
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["errors"][0]["pointer"] == "/value"
    assert container.platform.get_tenant(uuid.UUID(tenant.id)).version == before
    r = client.get(f"/v1/config/{RUN_DATA_DAYS}", headers=tenant.admin_headers)
    assert r.status_code == 404
    r = client.put(f"/v1/config/{RUN_DATA_DAYS}", json={"value": 30},
                   headers=tenant.admin_headers)  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["value"] == 30


def test_retention_shreds_finished_runs_once_and_the_log_still_verifies(
    client, container, settings, tmp_path
) -> None:
    tenant = create_tenant(client)
    h = tenant.admin_headers
    mark = uuid.uuid4().hex[:12]
    secret, kept_secret = f"retained-secret-{mark}", f"waiting-secret-{mark}"
    r = client.put(f"/v1/config/{RUN_DATA_DAYS}", json={"value": 7}, headers=h)
    assert r.status_code == 200, r.text
    done = _start(client, h, ECHO, secret)
    waiting = _start(client, h, WAITING, kept_secret)
    run = client.get(f"/v1/runs/{done}", headers=h).json()
    assert (run["status"], run["input"]) == ("succeeded", {"secret": secret})
    assert run["steps"][1]["output"] == {"heard": secret}
    assert run["output"] == {"final": secret}
    # the audit log holds the run's data sealed, before and after
    rows = wait_until(lambda: [r for r in all_audit_rows(client, h) if r["resource_id"] == done])
    assert secret not in json.dumps(rows)
    # an auditor keeps a signed checkpoint from before the sweep
    client.post("/v1/audit/checkpoints", headers=h)
    export_before = client.get("/v1/audit/export", headers=h).content
    kept = tmp_path / "kept.json"
    kept.write_bytes(export_before.splitlines()[-1])
    # not yet old enough: six days after, nothing goes
    _sweep(container, 6).run_once()
    assert client.get(f"/v1/runs/{done}", headers=h).json()["input"] == {"secret": secret}
    # eight days after, in two places at once: the run's data is shredded once
    sweeps = [_sweep(container, 8), _sweep(container, 8)]
    threads = [threading.Thread(target=s.run_once) for s in sweeps]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    names = [type(e).__qualname__ for e in container.runs.events.get(uuid.UUID(done))]
    assert names.count("Run.DataShredded") == 1
    assert _sweep(container, 9).run_once() == 0  # and never again
    container.wait_projected(container.runs.recorder.max_notification_id(), app="runs")
    # the API shows markers, never the plaintext; the waiting run keeps its data
    answers = [
        client.get(f"/v1/runs/{done}", headers=h),
        client.get(f"/v1/history/run/{done}", headers=h),
        client.get(f"/v1/history/run/{done}?as_of=2", headers=h),
        client.get("/v1/runs?limit=200", headers=h),
    ]
    for a in answers:
        assert a.status_code == 200, a.text
    run = answers[0].json()
    assert run["input"] == run["output"] == ERASED
    assert {(s["input"], s["output"]) for s in run["steps"]} == {(ERASED, ERASED)}
    assert client.get(f"/v1/runs/{waiting}", headers=h).json()["input"] == {"secret": kept_secret}
    shredded = wait_until(
        lambda: [r for r in all_audit_rows(client, h)
                 if r["action"] == "Run.DataShredded" and r["resource_id"] == done]
    )  # fmt: skip
    assert shredded[0]["details"]["retention_days"] == 7
    # the export after it verifies offline against the checkpoint kept before
    export_file = verified_export(client, h, tmp_path, kept)
    seen = "".join(a.text for a in answers) + export_file.read_text()
    assert secret not in seen
    # nothing in the database holds it; the waiting run's data is still there (the dump sees it)
    database = dump(settings)
    assert secret not in database
    assert kept_secret in database


def test_the_sweep_loop_outlives_a_database_outage(client, container) -> None:
    tenant = create_tenant(client)
    h = tenant.admin_headers
    r = client.put(f"/v1/config/{RUN_DATA_DAYS}", json={"value": 1}, headers=h)
    assert r.status_code == 200, r.text
    done = _start(client, h, ECHO, f"outage-{uuid.uuid4().hex}")
    real = system_connection(container)
    state = {"down": True, "failed": 0}

    def connect() -> Any:
        if state["down"]:  # the database is away: every pass fails until it is back
            state["failed"] += 1
            raise psycopg.OperationalError("connection refused")
        return real()

    later = utc_now() + timedelta(days=2)
    loop = RetentionSweep(container.runs, connect, clock=lambda: later, interval_s=0.05).start()
    try:
        wait_until(lambda: state["failed"] >= 2)
        assert loop.liveness()["ok"]  # an outage is not a dead loop
        state["down"] = False
        wait_until(lambda: container.runs.load(uuid.UUID(done)).data_shredded)
    finally:
        loop.stop()
    assert loop.liveness()["loops"]["sweep"]["alive"] is False  # stopped
