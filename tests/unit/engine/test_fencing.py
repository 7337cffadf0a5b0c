"""Fencing in the domain (tokens on StepStarted) and in the executor (the lease deadline)."""

from __future__ import annotations

import queue
import time
from datetime import UTC, datetime

import pytest
from eventsourcing.application import Application

from domain.runs.run import Run, StaleStepResultError
from engine.runtime.config import Counters, WorkerConfig
from engine.runtime.executor import Executor, Message
from engine.runtime.leases import Lease, Leases
from engine.steps import KindContext, StepCall, Succeeded


def scheduled() -> Run:
    run = Run.start(
        tenant_id="t1", workflow_id="wf", workflow_version=1, definition_hash="h",
        step_ids=["a"], input={}, started_by="u1",
    )  # fmt: skip
    run.schedule_step("a", None, 1, None, {})
    return run


def test_a_step_is_running_once_a_worker_takes_it_under_a_token():
    run = scheduled()
    run.start_step("a", None, 1, "w1", token=7)
    assert run.steps["a"]["status"] == "running"
    assert run.steps["a"]["token"] == 7


def test_a_result_under_a_stale_fencing_token_is_refused():
    # w1 took the attempt (token 7), lost its lease; w2 claimed it again (token 9)
    run = scheduled()
    run.start_step("a", None, 1, "w1", token=7)
    run.start_step("a", None, 1, "w2", token=9)
    with pytest.raises(StaleStepResultError, match="fencing token 7 is stale"):
        run.complete_step("a", None, 1, {"from": "w1"}, worker_id="w1", token=7)
    with pytest.raises(StaleStepResultError):
        run.fail_step("a", None, 1, error_kind="error", message="x", retryable=True,
                      worker_id="w1", token=7)  # fmt: skip
    run.complete_step("a", None, 1, {"from": "w2"}, worker_id="w2", token=9)
    assert run.steps["a"]["status"] == "succeeded"
    assert run.steps["a"]["output"] == {"from": "w2"}


def test_a_running_attempt_is_not_started_again_under_an_older_or_equal_token():
    run = scheduled()
    run.start_step("a", None, 1, "w2", token=9)
    for token in (9, 7, None):
        with pytest.raises(StaleStepResultError):
            run.start_step("a", None, 1, "w1", token=token)


def test_a_new_attempt_forgets_the_previous_attempts_token():
    run = scheduled()
    run.start_step("a", None, 1, "w1", token=9)
    run.fail_step("a", None, 1, error_kind="error", message="x", retryable=True, token=9)
    run.schedule_retry("a", None, 2, None)
    run.start_step("a", None, 2, "w1", token=1)  # a self-claim: the first token
    run.complete_step("a", None, 2, "ok", token=1)
    assert run.steps["a"]["status"] == "succeeded"


def test_tokens_survive_a_reload_from_the_event_store():
    app: Application[object] = Application()
    run = scheduled()
    run.start_step("a", None, 1, "w2", token=9)
    app.save(run)
    copy = app.repository.get(run.id)
    with pytest.raises(StaleStepResultError):
        copy.complete_step("a", None, 1, "late", token=8)


def test_a_started_events_lease_until_still_loads_and_is_not_run_state():
    app: Application[object] = Application()
    run = scheduled()
    until = datetime(2030, 1, 1, tzinfo=UTC)
    run.start_step("a", None, 1, "w1", lease_until=until, token=3)
    app.save(run)
    copy = app.repository.get(run.id)
    assert copy.steps["a"]["status"] == "running"
    assert "lease_until" not in copy.steps["a"]  # the queue's lease is the only one
    started = list(app.events.get(run.id))[-1]
    assert started.lease_until == until  # kept in the event, for the read model


def call() -> StepCall:
    from uuid import uuid4

    return StepCall(run_id=uuid4(), tenant_id="t1", workflow_id="wf", step_id="a", index=None,
                    attempt=1, uses="probe", input={}, timeout_s=None, started_by="u1",
                    now=datetime.now(UTC))  # fmt: skip


def executor() -> tuple[Executor, list[StepCall]]:
    started: list[StepCall] = []

    def probe(c: StepCall, _ctx: object) -> Succeeded:
        started.append(c)  # the side effect
        return Succeeded({"ok": True})

    config = WorkerConfig(concurrency=1, lease_s=2.0)
    leases = Leases(config)
    inbox: queue.Queue[Message] = queue.Queue()
    done = Executor({"probe": probe}, KindContext(), leases, inbox, Counters(),  # type: ignore[dict-item]
                    concurrency=1, worker_id="w1")  # fmt: skip
    return done, started


def test_an_executor_does_not_start_an_attempt_whose_lease_deadline_passed():
    ex, started = executor()
    c = call()
    ex.leases.held[c.key] = Lease(attempt=1, token=5, deadline=time.monotonic() - 0.01)
    ex.leases.busy.add(c.key)
    ex.execute(c, 5)
    assert started == []
    assert ex.inbox.empty()  # no result either
    assert c.key not in ex.leases.held  # the attempt is dropped
    assert c.key not in ex.leases.busy
    assert ex.counters.snapshot()["dropped_before_start"] == 1


def test_an_executor_does_not_start_an_attempt_under_a_token_it_no_longer_holds():
    ex, started = executor()
    c = call()
    ex.leases.held[c.key] = Lease(attempt=1, token=6, deadline=time.monotonic() + 60)
    ex.execute(c, 5)
    assert started == []
    assert c.key in ex.leases.held  # the newer lease (token 6) is not ours to drop
