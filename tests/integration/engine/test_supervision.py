"""Supervision and step states on PostgreSQL: one run's unexpected error fails that run
visibly and nothing else; a loop's unexpected error does not end the loop; an executing
step is `running`."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from domain.runs.run import Run
from tests.integration.engine.conftest import Engine, run_when
from tests.integration.engine.support import LocalServer
from tests.integration.engine.test_runtime import start

pytestmark = pytest.mark.timeout(60)


def chain(server: LocalServer, n: int = 3, path: str = "/step") -> dict[str, Any]:
    steps = [{"id": f"s{i}", "uses": "http", "needs": [f"s{i - 1}"] if i else [],
              "with": {"method": "POST", "url": server.url(path), "json": {"i": i}}}
             for i in range(n)]  # fmt: skip
    return {"name": "chain", "steps": steps}


def test_an_executing_http_step_is_running(engine: Engine, http_server: LocalServer) -> None:
    definition = {
        "name": "slow",
        "steps": [{"id": "call", "uses": "http", "with": {"url": http_server.url("/slow?s=1.5")}}],
    }
    run = start(engine, definition, {})
    # while the server holds the request, the step is `running` (stored, not just in memory)
    seen = run_when(engine, run.id, lambda r: r.steps["call"]["status"] == "running", timeout=10)
    assert seen.steps["call"]["status"] == "running"
    assert seen.steps["call"]["worker_id"] == engine.worker.id
    done = run_when(engine, run.id)
    assert done.status == "succeeded"
    # scheduled -> running -> succeeded, the start saved before the result
    events = [e for e in engine.runs.events.get(run.id) if getattr(e, "step_id", None) == "call"]
    names = [type(e).__name__ for e in events]
    assert names == ["StepScheduled", "StepStarted", "StepSucceeded"]
    assert events[1].token is not None


def test_a_planner_error_in_one_run_fails_that_run_and_no_other(
    engine: Engine, http_server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    planner = engine.worker.planner
    real = planner.advance

    def advance(run: Run, now: Any) -> None:
        if isinstance(run.input, dict) and run.input.get("boom"):
            raise RuntimeError("injected planner fault")
        real(run, now)

    monkeypatch.setattr(planner, "advance", advance)
    definition = chain(http_server)
    bad = start(engine, definition, {"boom": True})
    good = [start(engine, definition, {"n": i}) for i in range(6)]
    # the other runs complete
    for run in good:
        assert run_when(engine, run.id).status == "succeeded"
    # the faulty run ends visibly: failed, its step failed with kind internal, error recorded
    failed = run_when(engine, bad.id)
    assert failed.status == "failed"
    assert "injected planner fault" in (failed.reason or "")
    error = failed.steps["s0"]["error"]
    assert error["kind"] == "internal"
    assert "RuntimeError: injected planner fault" in error["message"]
    # the worker is alive and still works
    live = engine.worker.liveness()
    assert live["ok"], live
    assert engine.worker.stats()["quarantined"] >= 1
    monkeypatch.undo()
    after = start(engine, definition, {"n": 99})
    assert run_when(engine, after.id).status == "succeeded"


def test_an_unexpected_error_in_the_claimer_does_not_stop_claiming(
    engine: Engine, http_server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = engine.worker
    real = worker.claimer.claim_once
    failures = {"left": 2}

    def claim_once(session: Any) -> None:
        if failures["left"]:
            failures["left"] -= 1
            raise ValueError("injected claimer fault")
        real(session)

    monkeypatch.setattr(worker.claimer, "claim_once", claim_once)
    worker.leases.capacity.set()
    run = start(engine, chain(http_server, 1), {"n": uuid.uuid4().hex})  # claimed, not self-claimed
    assert run_when(engine, run.id).status == "succeeded"
    assert failures["left"] == 0
    assert worker.liveness()["loops"]["claim"]["alive"]


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_loop_thread_that_dies_anyway_is_started_again(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = engine.worker
    real_beat = worker._beat
    dying = {"left": 1}

    def beat(name: str) -> None:
        if name == "heartbeat" and dying["left"]:
            dying["left"] -= 1
            raise SystemExit  # not an Exception: the loop's own guard lets it end the thread
        real_beat(name)

    monkeypatch.setattr(worker, "_beat", beat)
    old = worker._threads["heartbeat"]
    old.join(timeout=10)
    assert not old.is_alive()
    restarts = worker.stats()["loop_restarts"]
    live = worker.liveness()  # a probe (and the heartbeat of the others) restarts dead loops
    assert worker._threads["heartbeat"] is not old
    assert live["loops"]["heartbeat"]["alive"]
    assert worker.stats()["loop_restarts"] == restarts + 1
