"""The runtime's parts alone: leases, claimer and heartbeat loops, executor, run cache, recorder."""

from __future__ import annotations

import queue
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from domain.runs.tasks import TaskChanges
from engine.runtime.config import Counters, WorkerConfig
from engine.runtime.executor import Executor, Message, Result, with_deadline
from engine.runtime.leases import Leases
from engine.runtime.ports import FIRST_TOKEN
from engine.steps import Failed, KindContext, StepCall, Succeeded, Waiting
from tests.support.polling import wait_until
from tests.unit.engine.runtime_rig import Rig, steps

pytestmark = pytest.mark.timeout(30)

K1 = (uuid.uuid4(), "a", None)
K2 = (uuid.uuid4(), "b", 0)


def call(uses: str = "probe", timeout_s: float | None = None) -> StepCall:
    return StepCall(run_id=K1[0], tenant_id="t1", workflow_id="wf", step_id="a", index=None,
                    attempt=1, uses=uses, input={}, timeout_s=timeout_s, started_by="u1",
                    now=datetime.now(UTC))  # fmt: skip


# ------------------------------------------------------------------------------ leases


def test_free_slots_count_attempts_not_executed_and_cap_the_leases_held() -> None:
    leases = Leases(WorkerConfig(concurrency=2, lease_s=10.0))
    assert leases.free() == 2
    leases.take({K1: (1, 5), K2: (1, 6)}, time.monotonic())
    assert leases.free() == 0
    assert leases.free(consumed=[K1]) == 1
    leases.executed(K1)  # its result waits for the committer: the lease is still held
    assert leases.free() == 1
    assert len(leases) == 2


def test_a_lease_is_certainly_held_until_lease_s_minus_the_margin() -> None:
    config = WorkerConfig(lease_s=10.0)
    assert config.margin_s == 1.0
    assert WorkerConfig(lease_s=10.0, lease_margin_s=0.5).margin_s == 0.5
    leases = Leases(config)
    assert leases.deadline(100.0) == 109.0


def test_the_heartbeat_extends_renewed_leases_and_marks_the_others_lost() -> None:
    leases = Leases(WorkerConfig(lease_s=10.0))
    leases.take({K1: (1, 5), K2: (1, 6)}, 0.0)
    assert leases.tokens() == {K1: 5, K2: 6}
    lost = leases.renewed({K1: 5, K2: 6, (uuid.uuid4(), "x", None): 1}, {K1}, 50.0)
    assert lost == 1
    assert leases.held[K1].deadline == 59.0
    assert leases.held[K2].lost
    assert leases.tokens() == {K1: 5}  # a lost lease is not renewed again
    assert not leases.still_held(K2, 6)
    assert K2 not in leases.held


def test_a_lease_replaced_meanwhile_is_left_alone_by_the_heartbeat() -> None:
    leases = Leases(WorkerConfig(lease_s=10.0))
    leases.take({K1: (1, 5)}, 0.0)
    leases.take({K1: (2, FIRST_TOKEN)}, 0.0)  # a new attempt leased to us
    assert leases.renewed({K1: 5}, set(), 1.0) == 0
    assert not leases.held[K1].lost


def test_release_forgets_only_leases_under_the_given_tokens() -> None:
    leases = Leases(WorkerConfig())
    leases.take({K1: (1, 5), K2: (1, 6)}, time.monotonic())
    leases.release([K1, K2], {K1: 4, K2: 6})
    assert set(leases.held) == {K1}
    assert leases.capacity.is_set()
    leases.release([K1])
    assert leases.held == {}


def test_settle_forgets_what_a_save_consumed_and_holds_what_it_leased() -> None:
    leases = Leases(WorkerConfig())
    leases.take({K1: (1, 5)}, time.monotonic())
    leases.settle({K1}, {K2: 3}, time.monotonic())
    assert set(leases.held) == {K2}
    assert leases.held[K2].token == FIRST_TOKEN
    assert K2 in leases.busy


# ------------------------------------------------------------------------------ executor


def executor(kinds: dict[str, Any], observe: Any = None) -> tuple[Executor, queue.Queue[Message]]:
    leases = Leases(WorkerConfig(lease_s=30.0))
    inbox: queue.Queue[Message] = queue.Queue()
    ex = Executor(kinds, KindContext(), leases, inbox, Counters(), concurrency=1,
                  worker_id="w1", observe=observe)  # fmt: skip
    leases.take({K1: (1, 5)}, time.monotonic())
    return ex, inbox


def test_an_attempt_runs_under_its_lease_and_its_result_goes_to_the_committer() -> None:
    seen: list[tuple[str, str]] = []
    ex, inbox = executor({"probe": lambda c, ctx: Waiting("wait", None, None)},
                         observe=lambda k, o, s: seen.append((k, o)))  # fmt: skip
    ex.execute(call(), 5)
    result = inbox.get_nowait()
    assert isinstance(result, Result)
    assert (result.key, result.run_id, result.attempt, result.token) == (K1, K1[0], 1, 5)
    assert seen == [("probe", "waiting")]
    assert K1 not in ex.leases.busy
    assert K1 in ex.leases.held  # until the committer saved it


def test_a_crashing_kind_fails_its_attempt_retryably() -> None:
    def crash(c: StepCall, ctx: KindContext) -> Succeeded:
        raise KeyError("boom")

    seen: list[tuple[str, str]] = []
    ex, inbox = executor({"probe": crash}, observe=lambda k, o, s: seen.append((k, o)))
    ex.execute(call(), 5)
    result = inbox.get_nowait()
    assert isinstance(result, Result)
    assert result.outcome == Failed("error", "KeyError: 'boom'", True)
    assert seen == [("probe", "failed")]


def test_an_unknown_kind_fails_for_good() -> None:
    ex, inbox = executor({})
    ex.execute(call("nope"), 5)
    result = inbox.get_nowait()
    assert isinstance(result, Result)
    assert isinstance(result.outcome, Failed)
    assert (result.outcome.kind, result.outcome.retryable) == ("unknown_kind", False)


def test_a_skill_is_reported_as_kind_skill_and_runs_under_its_timeout() -> None:
    seen: list[tuple[str, str]] = []
    ex, inbox = executor({}, observe=lambda k, o, s: seen.append((k, o)))
    ex.execute(call("skill:acme/thing@1", timeout_s=5), 5)  # no skill directory in this worker
    result = inbox.get_nowait()
    assert isinstance(result, Result)
    assert isinstance(result.outcome, Failed)
    assert seen == [("skill", "failed")]


def test_an_observer_that_fails_costs_no_result() -> None:
    def broken(kind: str, outcome: str, seconds: float) -> None:
        raise RuntimeError("metrics down")

    ex, inbox = executor({"probe": lambda c, ctx: Succeeded(1)}, observe=broken)
    ex.execute(call(), 5)
    assert isinstance(inbox.get_nowait(), Result)


def test_with_deadline_times_out_abandons_and_reports_errors() -> None:
    assert with_deadline(lambda: Succeeded(1), None) == Succeeded(1)
    assert with_deadline(lambda: Succeeded(2), 5) == Succeeded(2)
    gate = threading.Event()

    def slow() -> Succeeded:
        gate.wait(5)
        return Succeeded(3)

    late = with_deadline(slow, 0.05)
    gate.set()
    assert isinstance(late, Failed)
    assert late.kind == "timeout"

    def bad() -> Succeeded:
        raise ValueError("x")

    assert with_deadline(bad, 5) == Failed("error", "ValueError: x", True)


# ------------------------------------------------------------------------------ the loops


def _loop_until(target: Any, stop: threading.Event, check: Any) -> None:
    t = threading.Thread(target=target, daemon=True)
    t.start()
    wait_until(check, 10, interval=0.01, message="the loop to get there")
    stop.set()
    t.join(5)
    assert not t.is_alive()


def test_the_claim_loop_survives_the_database_and_bugs_and_ends_when_stopping() -> None:
    rig = Rig()
    run = rig.start(steps({"id": "a", "uses": "noop"}))
    rig.store.fail_next["claim"] = [psycopg.OperationalError("gone"), ValueError("a bug")]
    w = rig.worker
    _loop_until(w.claimer.loop, w._stopping, lambda: w.stats()["claimed"] == 1)
    stats = w.stats()
    assert (stats["db_errors"], stats["internal_errors"]) == (1, 1)
    assert w.inbox.get_nowait().run_id == run.id


def test_the_claim_loop_waits_while_the_worker_is_full() -> None:
    rig = Rig(concurrency=1)
    rig.worker.leases.take({K1: (1, 5)}, time.monotonic())
    rig.start(steps({"id": "a", "uses": "noop"}))
    rig.worker.claimer.claim_once(rig.session)
    assert rig.worker.stats()["claim_queries"] == 0


def test_the_heartbeat_loop_renews_marks_lost_and_survives_errors() -> None:
    rig = Rig(lease_s=0.06)
    rig.start(steps({"id": "a", "uses": "noop"}))
    rig.claim()
    (key,) = rig.store.rows
    ghost = (uuid.uuid4(), "x", None)
    rig.worker.leases.take({ghost: (1, 77)}, time.monotonic())  # no such row: lost
    rig.store.fail_next["heartbeat"] = [psycopg.OperationalError("gone"), ValueError("bug")]
    w = rig.worker
    _loop_until(w.heartbeat.loop, w._done, lambda: w.stats()["leases_lost"] >= 1)
    assert w.stats()["internal_errors"] == 1
    assert not w.leases.held[key].lost
    assert w.leases.held[ghost].lost


def test_a_loop_that_fails_is_restarted_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    rig = Rig()
    w = rig.worker
    calls = {"n": 0}

    def flaky() -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("injected")

    monkeypatch.setitem(w._loops, "commit", flaky)
    w._supervised("commit")
    assert calls["n"] == 2
    assert w.stats()["loop_restarts"] == 1


def test_liveness_restarts_a_dead_thread_and_reports_each_loop() -> None:
    rig = Rig()
    w = rig.worker
    w._loops = {name: (lambda: None) for name in w._loops}  # loops that end at once
    w.start()
    for t in list(w._threads.values()):
        t.join(5)
    live = w.liveness()  # restarts them
    assert w.stats()["loop_restarts"] == 3
    assert set(live["loops"]) == {"commit", "claim", "heartbeat"}
    w._stopping.set()
    w._watch()  # a stopping worker restarts nothing
    assert w.stats()["loop_restarts"] == 3


# ------------------------------------------------------------------------------ run cache


def test_the_run_cache_keeps_the_latest_runs_and_refreshes_a_copy_behind() -> None:
    rig = Rig()
    cache = rig.worker.cache
    cache.size = 1
    one = rig.start(steps({"id": "a", "uses": "noop"}))
    two = rig.start(steps({"id": "a", "uses": "noop"}))
    assert cache.take(uuid.uuid4()) is None
    copy = cache.take(one.id)
    assert copy is not None
    cache.keep(copy)
    cache.keep(rig.runs.load(two.id))
    assert one.id not in cache
    assert len(cache) == 1
    rig.runs.pause_run("t1", one.id)
    fresh = cache.refresh(copy)
    assert fresh.status == "paused"
    cache.drop(two.id)
    assert len(cache) == 0


# ------------------------------------------------------------------------------ recorder


def datastore(enable_db_functions: bool) -> Any:
    from eventsourcing.postgres import PostgresDatastore

    return PostgresDatastore(dbname="unused", host="127.0.0.1", port=1, user="u", password="p",
                             enable_db_functions=enable_db_functions)  # fmt: skip


def test_the_task_recorder_refuses_the_librarys_database_functions() -> None:
    from engine.runtime.task_store import RecorderConfigError, TaskRecorder

    store = datastore(True)
    try:
        with pytest.raises(RecorderConfigError, match="POSTGRES_ENABLE_DB_FUNCTIONS"):
            TaskRecorder(store, events_table_name="runs_events")
    finally:
        store.close()


def test_the_task_recorder_takes_task_changes_only_as_one_typed_value() -> None:
    from engine.runtime.task_store import TaskRecorder

    recorder = object.__new__(TaskRecorder)  # refused before any use of the database
    with pytest.raises(TypeError, match="TaskChanges"):
        recorder.insert_events([], task_changes={"tasks_to_add": []})
    with pytest.raises(TypeError, match="TaskChanges"):
        recorder.insert_events([], task_changes=[TaskChanges()])


def test_build_worker_wires_a_queue_on_the_database_and_closes_what_it_made() -> None:
    from engine.runtime.task_store import PgTaskQueue
    from engine.runtime.worker import build_worker

    seen: list[Any] = []
    worker = build_worker({}, "postgresql://unused", observe=lambda *a: seen.append(a))
    assert isinstance(worker.tasks, PgTaskQueue)
    assert worker.executor.observe is not None
    assert worker.planner.inline_kinds
    worker.stop(timeout=0.01)  # never started: nothing held, its clients closed
    assert worker.stats()["held"] == 0
