"""The runtime on the in-memory queue: claims, results and timers through the committer's saves."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from eventsourcing.persistence import OperationalError

from domain.kernel.clock import utc_now
from domain.runs.run import Run
from domain.runs.tasks import run_tasks
from engine.runtime.ports import FIRST_TOKEN, Claimed
from engine.scheduling.retry import MAX_CLAIMS
from tests.support.polling import wait_until
from tests.unit.engine.runtime_rig import Rig, steps

pytestmark = pytest.mark.timeout(30)

A_THEN_B = steps({"id": "a", "uses": "noop"}, {"id": "b", "uses": "noop", "needs": ["a"]})


def test_a_run_goes_from_claim_to_execution_to_success_and_leaves_no_row() -> None:
    seen: list[tuple[str, str, float]] = []
    rig = Rig(observe=lambda kind, outcome, s: seen.append((kind, outcome, s)))
    run = rig.start(A_THEN_B)
    assert [k[1] for k in rig.store.rows] == ["a"]  # the API's save queued the first attempt
    rig.pump()
    done = rig.run(run.id)
    assert done.status == "succeeded", done.reason
    assert rig.store.rows == {}
    stats = rig.worker.stats()
    assert stats["claimed"] == 1  # a, from the queue
    assert stats["self_claimed"] == 1  # b, leased to the worker by the save that scheduled it
    assert stats["steps_executed"] == 2
    assert stats["held"] == 0
    assert [(k, o) for k, o, _ in seen] == [("noop", "succeeded")] * 2
    assert all(s >= 0 for _, _, s in seen)
    events = [type(e).__name__ for e in rig.runs.events.get(run.id)]
    assert events.count("StepStarted") == 2  # each attempt `running` before its result


def test_the_queue_always_equals_what_the_stored_runs_imply() -> None:
    rig = Rig()
    run = rig.start(
        steps(
            {"id": "a", "uses": "noop"},
            {"id": "w", "uses": "wait", "with": {"seconds": 3600}, "needs": ["a"]},
        )
    )
    for _ in range(3):
        rig.claim()
        rig.commit()
        rig.execute()
        rig.commit()
        assert rig.store.tasks() == run_tasks(rig.run(run.id))
    (timer,) = rig.store.rows.values()
    assert timer.task.kind == "timer"


def test_a_due_timer_is_claimed_and_completes_its_wait_step() -> None:
    rig = Rig()
    run = rig.start(steps({"id": "w", "uses": "wait", "with": {"seconds": 1}}))
    rig.pump()
    assert rig.run(run.id).steps["w"]["waiting"] is not None
    rig.store.clock = lambda: utc_now() + timedelta(seconds=5)  # the database says: due
    rig.pump()
    done = rig.run(run.id)
    assert done.status == "succeeded"
    assert rig.worker.stats()["timers_fired"] == 1


def test_a_timer_claimed_early_is_given_back_to_the_queue() -> None:
    rig = Rig()
    run = rig.start(steps({"id": "w", "uses": "wait", "with": {"seconds": 3600}}))
    rig.pump()
    (key,) = rig.store.rows
    row = rig.store.rows[key]
    # the queue hands the timer out (e.g. a clock ahead); our scheduler says: not yet
    msg = Claimed(run.id, "w", None, 1, "t1", "timer", row.ready_at - timedelta(hours=2), 1, 7)
    rig.worker.leases.take({key: (1, 7)}, time.monotonic())
    row.worker_id = "w1"
    rig.worker.committer.handle([msg])
    assert rig.store.rows[key].worker_id is None  # released, ready again later
    assert rig.run(run.id).steps["w"]["status"] == "running"


def test_an_attempt_lost_max_claims_times_fails_lease_expired_and_runs_again() -> None:
    rig = Rig()
    run = rig.start(steps({"id": "a", "uses": "noop"}))
    (key,) = rig.store.rows
    rig.store.rows[key].claims = MAX_CLAIMS  # five workers died holding it
    rig.pump()
    done = rig.run(run.id)
    assert done.status == "succeeded"
    assert done.steps["a"]["lost"] == 1
    assert done.steps["a"]["attempt"] == 2
    assert rig.worker.stats()["lease_expired"] == 1


def test_a_result_whose_lease_another_worker_took_is_dropped_not_saved() -> None:
    rig = Rig()
    run = rig.start(steps({"id": "a", "uses": "noop"}))
    rig.claim()
    rig.commit()  # `running` under our token; the call dispatched
    (key,) = rig.store.rows
    rig.store.expire(key)
    (theirs,) = rig.store.session().claim("w2", 1, lease_s=30, tenant_cap=10)
    rig.execute()  # our lease's deadline still looks fine here: the save's fence catches it
    rig.commit()
    assert rig.worker.stats()["fenced"] == 1
    assert rig.worker.stats()["stale"] >= 1
    assert rig.worker.leases.held == {}
    current = rig.run(run.id)
    assert current.steps["a"]["status"] == "running"  # w2's attempt goes on
    assert rig.store.rows[key].fence == theirs.fence


def test_a_claim_for_an_attempt_that_is_over_deletes_its_row() -> None:
    rig = Rig()
    run = rig.start(steps({"id": "a", "uses": "noop"}))
    rig.pump()
    stale = Claimed(run.id, "a", None, 1, "t1", "step", utc_now(), 1, 9)
    rig.worker.leases.take({stale.key: (1, 9)}, time.monotonic())
    rig.worker.committer.handle([stale])
    assert rig.worker.stats()["stale"] == 1
    assert rig.worker.leases.held == {}


def test_a_claim_of_a_run_that_does_not_exist_drops_the_row() -> None:
    import uuid

    rig = Rig()
    ghost = Claimed(uuid.uuid4(), "a", None, 1, "t1", "step", utc_now(), 1, 9)
    rig.worker.committer.handle([ghost])
    assert rig.store.saved[-1].done[0].key == ghost.key


def test_the_database_away_keeps_the_messages_for_a_later_batch() -> None:
    rig = Rig()
    run = rig.start(steps({"id": "a", "uses": "noop"}))
    rig.claim()
    rig.store.fail_next["insert_events"] = [OperationalError("the server closed the connection")]
    rig.commit()
    assert rig.worker.stats()["db_errors"] == 1
    assert rig.worker.inbox.qsize() == 1  # the claim waits
    rig.pump()
    assert rig.run(run.id).status == "succeeded"


def test_a_conflict_is_done_again_from_the_stored_run() -> None:
    rig = Rig()
    run = rig.start(steps({"id": "a", "uses": "noop"}, {"id": "b", "uses": "noop"}))
    rig.claim()
    rig.commit()  # both started; the run cached as saved
    # someone else saves the run meanwhile: the cached copy is one version behind
    rig.runs.pause_run("t1", run.id)
    rig.runs.resume_run("t1", run.id)
    rig.pump()
    assert rig.worker.stats()["conflicts"] >= 1
    assert rig.run(run.id).status == "succeeded"


def test_a_run_that_fails_alone_is_quarantined_and_the_others_go_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rig = Rig()
    bad = rig.start(steps({"id": "a", "uses": "noop"}), {"boom": True})
    good = rig.start(steps({"id": "a", "uses": "noop"}))
    real = rig.planner.advance

    def advance(run: Run, now: Any) -> None:
        if run.input.get("boom"):
            raise RuntimeError("injected planner fault")
        real(run, now)

    monkeypatch.setattr(rig.planner, "advance", advance)
    rig.pump()
    failed = rig.run(bad.id)
    assert failed.status == "failed"
    assert failed.steps["a"]["error"]["kind"] == "internal"
    assert "injected planner fault" in failed.reason
    assert rig.run(good.id).status == "succeeded"
    assert rig.worker.stats()["quarantined"] == 1
    assert rig.store.tasks() == {}


def test_a_run_that_cannot_even_be_failed_is_parked(monkeypatch: pytest.MonkeyPatch) -> None:
    rig = Rig()
    run = rig.start(steps({"id": "a", "uses": "noop"}))

    def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError("injected store fault")

    rig.claim()
    monkeypatch.setattr(rig.runs, "save_changes", broken)
    rig.commit()
    assert rig.worker.stats()["parked"] == 1
    assert rig.worker.liveness()["parked_runs"] == 1
    assert run.id in rig.worker.committer.parked
    assert rig.worker.leases.held == {}


def test_a_run_whose_definition_is_gone_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.definition.compiled import CompiledDefinition

    rig = Rig()
    run = rig.start(steps({"id": "a", "uses": "noop"}))
    monkeypatch.setattr(CompiledDefinition, "cached", classmethod(lambda cls, h: None))
    rig.pump()
    failed = rig.run(run.id)
    assert failed.status == "failed"
    assert "is unknown here" in failed.reason


def test_self_claims_respect_the_tenant_cap_and_the_free_slots() -> None:
    rig = Rig(concurrency=2, tenant_cap=1)
    fan = steps({"id": "a", "uses": "noop"},
                *({"id": f"b{i}", "uses": "noop", "needs": ["a"]} for i in range(3)))  # fmt: skip
    run = rig.start(fan)
    rig.claim()
    rig.commit()
    rig.execute()
    rig.commit()
    assert rig.worker.stats()["self_claimed"] == 1  # one per tenant
    leased = [r for r in rig.store.rows.values() if r.worker_id == "w1"]
    (mine,) = leased
    assert mine.fence == FIRST_TOKEN
    rig.pump()
    assert rig.run(run.id).status == "succeeded"


def test_a_stopping_worker_takes_nothing_for_itself() -> None:
    rig = Rig()
    run = rig.start(A_THEN_B)
    rig.claim()
    rig.commit()
    rig.execute()
    rig.worker._stopping.set()
    rig.commit()
    assert rig.worker.stats()["self_claimed"] == 0
    assert rig.store.tasks() == run_tasks(rig.run(run.id))


def test_a_worker_with_its_threads_runs_runs_and_stops_cleanly() -> None:
    from engine.runtime.worker import Worker
    from tests.unit.engine.fakes import InMemoryRuns

    rig = Rig()
    worker = Worker(rig.runs, rig.planner, rig.store, config=rig.worker.config).start()
    try:
        runs = [rig.start(A_THEN_B) for _ in range(5)]
        wait_until(
            lambda: all(rig.run(r.id).is_done for r in runs),
            20,
            interval=0.01,
            message="the runs to finish",
        )
        live = worker.liveness()
        assert live["ok"], live
        assert set(live["loops"]) == {"commit", "claim", "heartbeat"}
    finally:
        worker.stop(timeout=5)
    assert all(rig.run(r.id).status == "succeeded" for r in runs)
    assert worker.held() == 0
    assert not any(t.is_alive() for t in worker._threads.values())
    assert isinstance(rig.runs, InMemoryRuns)


def test_stop_gives_back_the_leases_still_held() -> None:
    rig = Rig()
    rig.start(steps({"id": "a", "uses": "noop"}))
    rig.claim()  # held, never committed
    (key,) = rig.store.rows
    assert rig.store.rows[key].worker_id == "w1"
    rig.worker.stop(timeout=0.05)
    assert rig.store.rows[key].worker_id is None
