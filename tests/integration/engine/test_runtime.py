"""The runtime end to end on PostgreSQL: the DSL spec's example against a local HTTP server."""

from __future__ import annotations

import copy
import dataclasses
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.kernel.errors import NotFoundError, PermissionDeniedError
from domain.runs.application import (
    IDEMPOTENCY_WINDOW,
    DecideApproval,
    IdempotencyKeyReusedError,
    StartRun,
    run_id_for,
)
from domain.runs.run import Run
from tests.integration.engine.conftest import Engine, run_when
from tests.integration.engine.support import LocalServer
from tests.unit.engine.example import EXAMPLE

pytestmark = pytest.mark.timeout(60)


def example(server: LocalServer, **fetch: Any) -> dict[str, Any]:
    definition = copy.deepcopy(EXAMPLE)
    steps = {s["id"]: s for s in definition["steps"]}
    steps["ship"]["with"]["url"] = server.url("/ship")
    steps["fetch"].update(fetch)
    return definition


def start(engine: Engine, definition: dict[str, Any], input: Any, key: str | None = None) -> Run:
    from domain.workflows.commands import CreateWorkflow

    workflow = engine.platform.create_workflow(
        CreateWorkflow(
            tenant_id=engine.tenant_id,
            name=f"wf-{uuid.uuid4().hex[:6]}",
            definition=definition,
            created_by=engine.admin_id,
        )
    )
    return engine.runs.start_run(  # type: ignore[no-any-return]
        StartRun(
            tenant_id=engine.tenant_id,
            workflow_id=workflow.id,
            workflow_version=1,
            definition=definition,
            input=input,
            started_by=engine.admin_id,
            idempotency_key=key,
        )
    )


def statuses(run: Run) -> dict[str, str]:
    return {sid: slot["status"] for sid, slot in run.steps.items()}


def test_small_order_skips_the_approval_and_ships(engine: Engine, http_server: LocalServer) -> None:
    url = http_server.url("/order/o-1?total=500")
    run = start(engine, example(http_server), {"order_url": url})
    run = run_when(engine, run.id)
    assert run.status == "succeeded", run.reason
    assert statuses(run) == {
        "fetch": "succeeded", "small": "succeeded", "approve": "skipped",
        "ship": "succeeded", "tell": "succeeded", "each_line": "succeeded",
    }  # fmt: skip
    assert run.output == {"shipped": True}
    assert run.steps["ship"]["output"]["body"]["got"] == {"order": "o-1"}
    assert run.steps["each_line"]["output"] == [{"sku": f"sku-{i}", "n": i} for i in range(3)]
    # the notify step queued a real notification for the user who started the run
    note_id = uuid.UUID(run.steps["tell"]["output"]["notification_id"])
    note = engine.platform.get_notification(engine.tenant_id, note_id)
    assert (note.title, note.message, note.recipient_user_id) == (
        "Shipped",
        "Order o-1 shipped",
        engine.admin_id,
    )
    # every http attempt carried its idempotency key <run>:<step>:<attempt>
    assert http_server.recorder.keys("/ship")[f"{run.id}:ship:1"] == 1


def test_large_order_waits_for_a_manager_approval(engine: Engine, http_server: LocalServer) -> None:
    url = http_server.url("/order/o-2?total=5000")
    run = start(engine, example(http_server), {"order_url": url})
    run = run_when(engine, run.id, lambda r: r.steps["approve"]["waiting"] is not None)
    assert statuses(run)["approve"] == "running"
    assert run.steps["approve"]["waiting"]["role"] == "manager"
    decide = DecideApproval(
        tenant_id=engine.tenant_id,
        run_id=run.id,
        step_id="approve",
        user_id=engine.admin_id,
        roles={"user"},
        comment="no",
    )
    # a user without the role cannot decide
    with pytest.raises(PermissionDeniedError):
        engine.runs.approve_step(decide)
    engine.runs.approve_step(DecideApproval(
        tenant_id=engine.tenant_id, run_id=run.id, step_id="approve",
        user_id=engine.manager_id, roles={"manager"}, comment="fine"))  # fmt: skip
    run = run_when(engine, run.id)
    assert run.status == "succeeded", run.reason
    assert statuses(run)["small"] == "skipped"
    assert run.steps["approve"]["output"] == {
        "approved": True,
        "by": str(engine.manager_id),
        "comment": "fine",
    }
    assert run.output == {"shipped": True}


def test_a_rejected_approval_fails_the_run(engine: Engine, http_server: LocalServer) -> None:
    url = http_server.url("/order/o-3?total=5000")
    run = start(engine, example(http_server), {"order_url": url})
    run_when(engine, run.id, lambda r: r.steps["approve"]["waiting"] is not None)
    engine.runs.reject_step(DecideApproval(
        tenant_id=engine.tenant_id, run_id=run.id, step_id="approve",
        user_id=engine.manager_id, roles={"manager"}, comment="too big"))  # fmt: skip
    run = run_when(engine, run.id)
    assert run.status == "failed"
    assert run.steps["approve"]["error"]["kind"] == "rejected"
    assert statuses(run)["ship"] == "skipped"  # any_success: no need succeeded


def test_a_503_is_retried_with_the_next_attempt(engine: Engine, http_server: LocalServer) -> None:
    order = f"/order/flaky-{uuid.uuid4().hex[:6]}"
    run = start(engine, example(http_server), {"order_url": http_server.url(order + "?flaky=1")})
    run = run_when(engine, run.id)
    assert run.status == "succeeded", run.reason
    assert run.steps["fetch"]["attempt"] == 2
    assert http_server.recorder.keys(order) == {f"{run.id}:fetch:1": 1, f"{run.id}:fetch:2": 1}


def test_an_attempt_past_its_timeout_fails_with_kind_timeout(
    engine: Engine, http_server: LocalServer
) -> None:
    definition = example(http_server, timeout_s=0.5, retry={"max_attempts": 1})
    run = start(engine, definition, {"order_url": http_server.url("/slow?s=3")})
    run = run_when(engine, run.id)
    assert run.status == "failed"
    assert run.steps["fetch"]["error"]["kind"] == "timeout"
    assert {s for s, st in statuses(run).items() if st == "skipped"} == {
        "small",
        "approve",
        "ship",
        "tell",
        "each_line",
    }


def test_a_foreach_of_100_items_gathers_every_output(
    engine: Engine, http_server: LocalServer
) -> None:
    url = http_server.url("/order/o-100?total=10&lines=100")
    run = start(engine, example(http_server), {"order_url": url})
    run = run_when(engine, run.id)
    assert run.status == "succeeded", run.reason
    assert run.steps["each_line"]["output"] == [{"sku": f"sku-{i}", "n": i} for i in range(100)]
    assert all(item["status"] == "succeeded" for item in run.steps["each_line"]["items"])


def test_a_foreach_of_http_items_runs_in_parallel_bounded(
    engine: Engine, http_server: LocalServer
) -> None:
    definition = {
        "name": "fan-out",
        "steps": [{"id": "call", "uses": "http", "foreach": "${{ input.items }}", "max_parallel": 5,
                   "with": {"method": "POST", "url": http_server.url("/item"),
                            "json": {"i": "${{ item }}"}}}],
        "output": {"n": "${{ size(steps.call.output) }}"},
    }  # fmt: skip
    run = start(engine, definition, {"items": list(range(100))})
    run = run_when(engine, run.id)
    assert run.status == "succeeded", run.reason
    assert run.output == {"n": 100}
    keys = http_server.recorder.keys("/item")
    assert all(keys[f"{run.id}:call:{i}:1"] == 1 for i in range(100))


def test_a_wait_step_is_a_durable_timer(engine: Engine) -> None:
    definition = {"name": "nap", "steps": [
        {"id": "nap", "uses": "wait", "with": {"seconds": 0.5}},
        {"id": "after", "uses": "noop", "needs": ["nap"], "with": {"x": 1}}]}  # fmt: skip
    t0 = time.monotonic()
    run = start(engine, definition, {})
    assert run.steps["nap"]["waiting"]["kind"] == "wait"
    run = run_when(engine, run.id)
    assert run.status == "succeeded"
    assert time.monotonic() - t0 >= 0.5
    assert run.steps["after"]["output"] == {"x": 1}


def test_a_duplicate_start_returns_the_first_run(engine: Engine, http_server: LocalServer) -> None:
    definition = {"name": "dup", "steps": [{"id": "a", "uses": "noop"}]}
    first = start(engine, definition, {"n": 1}, key="k-1")
    again = engine.runs.start_run(
        StartRun(
            tenant_id=engine.tenant_id,
            workflow_id=first.workflow_id,
            workflow_version=1,
            definition=definition,
            input={"n": 1},
            started_by=engine.admin_id,
            idempotency_key="k-1",
        )
    )
    assert again.id == first.id
    with pytest.raises(IdempotencyKeyReusedError):
        engine.runs.start_run(
            StartRun(
                tenant_id=engine.tenant_id,
                workflow_id=first.workflow_id,
                workflow_version=1,
                definition=definition,
                input={"n": 2},
                started_by=engine.admin_id,
                idempotency_key="k-1",
            )
        )


def test_an_idempotency_key_is_taken_again_once_its_run_is_24_hours_old(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    definition = {"name": "dup24", "steps": [{"id": "a", "uses": "noop"}]}
    now = datetime.now(UTC)
    key = f"k-{uuid.uuid4().hex[:8]}"

    def at(when: datetime) -> None:
        monkeypatch.setattr(engine.runs, "clock", lambda: when)

    at(now - IDEMPOTENCY_WINDOW - timedelta(seconds=1))
    first = start(engine, definition, {"n": 1}, key=key)
    cmd = StartRun(tenant_id=engine.tenant_id, workflow_id=first.workflow_id, workflow_version=1,
                   definition=definition, input={"n": 1}, started_by=engine.admin_id,
                   idempotency_key=key)  # fmt: skip
    at(now - timedelta(hours=1))  # within 24 h of the first start: the first run
    inside = engine.runs.start(cmd)
    assert (inside.replayed, inside.run.id) == (True, first.id)
    at(now)  # 24 h and 1 s after it: the key starts a new run
    second = engine.runs.start(cmd)
    assert second.replayed is False
    assert second.run.id == run_id_for(str(engine.tenant_id), first.workflow_id, key, 1) != first.id
    again = engine.runs.start(cmd)
    assert (again.replayed, again.run.id) == (True, second.run.id)
    with pytest.raises(IdempotencyKeyReusedError):  # another body within the new run's 24 h
        engine.runs.start(dataclasses.replace(cmd, input={"n": 2}))
    at(now + IDEMPOTENCY_WINDOW)  # and again a day later, another body is a new run
    third = engine.runs.start(dataclasses.replace(cmd, input={"n": 3}))
    assert third.replayed is False
    assert third.run.id == run_id_for(str(engine.tenant_id), first.workflow_id, key, 2)
    assert run_when(engine, third.run.id).status == "succeeded"


def test_another_tenants_run_is_not_found(engine: Engine) -> None:
    run = start(engine, {"name": "mine", "steps": [{"id": "a", "uses": "noop"}]}, {})
    with pytest.raises(NotFoundError):
        engine.runs.get_run(uuid.uuid4(), run.id)


def test_cancel_removes_the_runs_queued_work(engine: Engine, db) -> None:  # type: ignore[no-untyped-def]
    import psycopg

    definition = {"name": "long", "steps": [{"id": "nap", "uses": "wait", "with": {"seconds": 60}}]}
    run = start(engine, definition, {})
    with psycopg.connect(db.system.conninfo) as conn:
        count = "SELECT count(*) FROM run_tasks WHERE run_id = %s"
        assert conn.execute(count, (run.id,)).fetchone() == (1,)
        engine.runs.cancel_run(engine.tenant_id, run.id)
        assert conn.execute(count, (run.id,)).fetchone() == (0,)
    assert engine.runs.get_run(engine.tenant_id, run.id).status == "cancelled"


def test_worker_counters_show_batched_saves(engine: Engine) -> None:
    stats = engine.worker.stats()
    assert stats["saves"] > 0
    assert json.dumps(stats)
