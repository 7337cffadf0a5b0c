"""The Runs application on the in-memory store, with a fake planner (the engine's port)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from domain.kernel.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    StaleVersionError,
    ValidationError,
)
from domain.runs.application import (
    IDEMPOTENCY_WINDOW,
    AdvanceDeferred,
    DecideApproval,
    IdempotencyKeyReusedError,
    PreparedDefinition,
    Runs,
    StartRun,
    run_id_for,
)
from domain.runs.run import Run, RunStateError
from domain.runs.tasks import START_TASK_STEP, RunTask, TaskChanges, run_tasks, task_changes
from tests.support.doubles import FakeClock

WF = uuid.UUID("00000000-0000-4000-8000-00000000000a")


class FakePlanner:
    """Schedules every pending step at once; an approval step waits for role ``role``."""

    def __init__(self, *, defer: bool = False) -> None:
        self.defer = defer

    def prepare(self, definition: dict[str, Any]) -> PreparedDefinition:
        ids = [s["id"] for s in definition["steps"]]
        return PreparedDefinition("hash-" + definition["name"], ids)

    def advance(self, run: Run, now: Any) -> None:
        if self.defer and all(s["status"] == "pending" for s in run.steps.values()):
            raise AdvanceDeferred(str(run.id))
        for sid, slot in run.steps.items():
            if slot["status"] == "pending":
                run.schedule_step(sid, None, 1, None, {})
                if sid.startswith("approve"):
                    role = sid.partition(":")[2] or None
                    run.wait_step(sid, None, 1, kind="approval", until=None, role=role)


def app(planner: Any = None, clock: FakeClock | None = None) -> Runs:
    return Runs(planner=planner if planner is not None else FakePlanner(), clock=clock)


def cmd(input: Any = None, key: str | None = None, **definition: Any) -> StartRun:
    defn = {"name": "wf", "steps": [{"id": "a"}], **definition}
    return StartRun(tenant_id="t1", workflow_id=WF, workflow_version=1, definition=defn,
                    input={} if input is None else input, started_by="u1",
                    idempotency_key=key)  # fmt: skip


def test_a_start_records_the_run_and_its_first_tasks() -> None:
    runs = app()
    run = runs.start_run(cmd({"n": 1}))
    stored = runs.get_run("t1", run.id)
    assert stored.input == {"n": 1}
    assert [(t.step_id, t.kind) for t in run_tasks(stored).values()] == [("a", "step")]


def test_runs_without_a_planner_record_but_cannot_start() -> None:
    with pytest.raises(RuntimeError, match="no planner"):
        Runs().start_run(cmd())


def test_an_input_against_the_schema_or_unstorable_is_refused() -> None:
    schema = {"type": "object", "required": ["n"]}
    with pytest.raises(ValidationError):
        app().start_run(cmd({}, input_schema=schema))
    with pytest.raises(ValidationError):
        app().start_run(cmd({"bad": "\x00"}))
    with pytest.raises(ValidationError):
        app().start_run(cmd(key="k" * 300))


def test_a_definition_without_steps_is_refused_on_the_input() -> None:
    with pytest.raises(ValidationError):
        app().start_run(cmd(steps=[]))


def test_a_costly_first_advance_is_deferred_to_a_worker() -> None:
    runs = app(FakePlanner(defer=True))
    run = runs.start_run(cmd())
    (start,) = run_tasks(runs.get_run("t1", run.id)).values()
    assert (start.step_id, start.kind) == (START_TASK_STEP, "timer")


def test_an_idempotency_key_replays_then_refuses_another_input_then_expires() -> None:
    clock = FakeClock()
    runs = app(clock=clock)
    first = runs.start(cmd({"n": 1}, key="k1"))
    assert not first.replayed
    assert first.run.id == run_id_for("t1", str(WF), "k1")
    again = runs.start(cmd({"n": 1}, key="k1"))
    assert again.replayed
    assert again.run.id == first.run.id
    with pytest.raises(IdempotencyKeyReusedError) as refused:
        runs.start(cmd({"n": 2}, key="k1"))
    assert refused.value.run_id == first.run.id
    clock.advance(IDEMPOTENCY_WINDOW + timedelta(seconds=1))
    later = runs.start(cmd({"n": 2}, key="k1"))
    assert not later.replayed
    assert later.run.id == run_id_for("t1", str(WF), "k1", 1)


def test_racing_starts_of_one_key_make_one_run(monkeypatch: pytest.MonkeyPatch) -> None:
    runs = app()
    first = runs.start_run(cmd({"n": 1}, key="k1"))
    monkeypatch.setattr(runs, "_latest_start", lambda *a: (0, None))  # both saw no run yet
    assert runs.start(cmd({"n": 1}, key="k1")).replayed
    monkeypatch.setattr(runs, "save_runs", _raises(IntegrityError("clash")))
    with pytest.raises(IntegrityError):
        runs.start_run(cmd({"n": 1}))  # without a key a clash is not a replay
    assert runs.get_run("t1", first.id).id == first.id


def _raises(error: Exception, times: int = 10**9) -> Any:
    left = {"n": times}

    def fail(*_: Any, **__: Any) -> Any:
        if left["n"]:
            left["n"] -= 1
            raise error
        return None

    return fail


def test_another_tenants_run_or_another_aggregate_is_not_found() -> None:
    runs = app()
    run = runs.start_run(cmd())
    with pytest.raises(NotFoundError):
        runs.get_run("t2", run.id)
    with pytest.raises(NotFoundError):
        runs.load(uuid.uuid4())
    other = Aggregate()
    runs.save(other)
    with pytest.raises(NotFoundError):
        runs.load(other.id)


def test_cancel_pause_resume_with_and_without_if_match() -> None:
    runs = app()
    run = runs.start_run(cmd())
    with pytest.raises(StaleVersionError):
        runs.pause_run("t1", run.id, expected_version=run.version + 5)
    paused = runs.pause_run("t1", run.id, expected_version=run.version)
    assert paused.status == "paused"
    assert run_tasks(paused) == run_tasks(runs.get_run("t1", run.id))
    with pytest.raises(RunStateError):
        runs.pause_run("t1", run.id)
    assert runs.resume_run("t1", run.id).status == "running"
    cancelled = runs.cancel_run("t1", run.id, "enough")
    assert (cancelled.status, cancelled.reason) == ("cancelled", "enough")
    assert run_tasks(cancelled) == {}


def test_a_command_that_loses_a_race_is_redone_then_gives_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runs = app()
    run = runs.start_run(cmd())
    real = runs.save_runs
    flaky = _raises(IntegrityError("a worker saved first"), times=2)

    def save(*a: Any, **k: Any) -> Any:
        return flaky() or real(*a, **k)

    monkeypatch.setattr(runs, "save_runs", save)
    assert runs.pause_run("t1", run.id).status == "paused"
    monkeypatch.setattr(runs, "save_runs", _raises(IntegrityError("always")))
    with pytest.raises(ConflictError, match="changing too fast"):
        runs.resume_run("t1", run.id)
    with pytest.raises(StaleVersionError):  # with If-Match a clash at the save is a 412
        runs.resume_run("t1", run.id, expected_version=runs.get_run("t1", run.id).version)


def test_approvals_need_the_steps_role() -> None:
    runs = app()
    run = runs.start_run(cmd(steps=[{"id": "approve:Manager"}, {"id": "approve"}]))
    decide = DecideApproval(tenant_id="t1", run_id=run.id, step_id="approve:Manager",
                            user_id="u2", roles={"user"})  # fmt: skip
    with pytest.raises(PermissionDeniedError):
        runs.approve_step(decide)
    ok = DecideApproval(
        tenant_id="t1",
        run_id=run.id,
        step_id="approve:Manager",
        user_id="u2",
        roles={"manager"},
        comment="fine",
        expected_version=run.version,
    )
    after = runs.approve_step(ok)
    assert after.steps["approve:Manager"]["status"] == "succeeded"
    with pytest.raises(RunStateError):  # not waiting any more: the run's own check (409)
        runs.reject_step(ok.__class__(**{**ok.__dict__, "expected_version": None}))
    nobody = DecideApproval(tenant_id="t1", run_id=run.id, step_id="approve", user_id="u2",
                            roles={"admin"})  # fmt: skip
    with pytest.raises(PermissionDeniedError):  # a step without a role is nobody's
        runs.reject_step(nobody)


def test_a_rejection_by_the_role_fails_the_step() -> None:
    runs = app()
    run = runs.start_run(cmd(steps=[{"id": "approve:ops"}]))
    rejected = runs.reject_step(DecideApproval(tenant_id="t1", run_id=run.id,
                                               step_id="approve:ops", user_id="u2",
                                               roles={"OPS"}, comment="no"))  # fmt: skip
    assert rejected.steps["approve:ops"]["error"]["kind"] == "rejected"


def test_save_runs_adds_the_callers_own_changes_to_the_runs() -> None:
    runs = app()
    run = runs.start_run(cmd())
    loaded = runs.load(run.id)
    before = run_tasks(loaded)
    loaded.cancel("stop")
    extra = RunTask(run.id, "t1", "gone", None, 3, "step", None)
    recordings = runs.save_runs([(loaded, before)], TaskChanges(done=(extra,), lease_to="w"))
    assert recordings
    changes = task_changes(before, run_tasks(loaded))
    assert changes.done == tuple(before.values())
    assert changes.plus([], [extra]).done[-1] == extra
    assert TaskChanges(add=(extra,))
