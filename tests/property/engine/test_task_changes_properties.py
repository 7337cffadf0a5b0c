"""The work queue is derived data: the task changes of successive saves add up to the tasks the
run's events imply, whatever the run went through (results, failures, retries, timers, pauses)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.kernel.clock import utc_now
from domain.kernel.errors import NotFoundError
from domain.runs.application import StartRun
from domain.runs.run import Run, RunStateError
from domain.runs.tasks import run_tasks
from engine.scheduling.planner import EnginePlanner
from tests.unit.engine.fakes import FakeTaskStore, InMemoryRuns

ACTIONS = ("start", "complete", "fail", "fail_for_good", "wait", "fire", "pause", "resume",
           "cancel", "advance")  # fmt: skip


@st.composite
def definitions(draw: st.DrawFn) -> dict[str, Any]:
    """A DAG (edges i -> j for i < j only), some steps over items, some retried."""
    n = draw(st.integers(1, 5))
    steps = []
    for j in range(n):
        needs = draw(st.lists(st.integers(0, j - 1), unique=True, max_size=2)) if j else []
        step: dict[str, Any] = {"id": f"s{j}", "uses": "noop", "needs": [f"s{i}" for i in needs]}
        if draw(st.integers(0, 3)) == 0:
            step["foreach"] = "input.items"
            step["max_parallel"] = draw(st.integers(1, 2))
        step["retry"] = {"max_attempts": draw(st.integers(1, 3)), "initial_interval_s": 1}
        steps.append(step)
    return {"name": "prop", "steps": steps}


def rebuilt(runs: InMemoryRuns, run_id: uuid.UUID) -> Run:
    """The run folded from every one of its stored events (no cache, no snapshot)."""
    run: Any = None
    for event in runs.events.get(run_id):
        run = event.mutate(run)
    assert isinstance(run, Run)
    return run


def act(run: Run, action: str, pick: int, now: Any) -> None:
    """One thing a worker or a user does to the run (a command that does not fit: nothing)."""
    if action in ("pause", "resume", "cancel"):
        getattr(run, action)()
        return
    tasks = sorted(run_tasks(run).values(), key=lambda t: (t.step_id, t.index or -1))
    if not tasks or action == "advance":
        return
    t = tasks[pick % len(tasks)]
    sid, idx, attempt = t.step_id, t.index, t.attempt
    if action == "start":
        run.start_step(sid, idx, attempt, "w", token=pick + 1)
    elif action == "complete":
        run.complete_step(sid, idx, attempt, {"n": pick}, token=pick + 1)
    elif action in ("fail", "fail_for_good"):
        run.fail_step(sid, idx, attempt, error_kind="error", message="x",
                      retryable=action == "fail", token=pick + 1)  # fmt: skip
    elif action == "wait":
        run.wait_step(sid, idx, attempt, kind="wait", until=now + timedelta(seconds=pick % 5))
    elif action == "fire":
        pass  # time passes (below): a due timer fires in the advance


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    definition=definitions(),
    items=st.lists(st.integers(0, 9), max_size=3),
    script=st.lists(st.tuples(st.sampled_from(ACTIONS), st.integers(0, 20)), max_size=20),
)
def test_incremental_task_changes_equal_the_tasks_rebuilt_from_the_events(
    definition: dict[str, Any], items: list[int], script: list[tuple[str, int]]
) -> None:
    store = FakeTaskStore()
    planner = EnginePlanner(inline_kinds=())
    runs = InMemoryRuns(store, planner=planner)
    now = utc_now()
    started = runs.start_run(StartRun(tenant_id="t1", workflow_id=uuid.uuid4(),
                                      workflow_version=1, definition=definition,
                                      input={"items": items}, started_by="u"))  # fmt: skip
    assert store.tasks() == run_tasks(rebuilt(runs, started.id))
    for action, pick in script:
        now += timedelta(seconds=pick % 7)
        run = runs.load(started.id)
        before = run_tasks(run)
        try:
            act(run, action, pick, now)
        except (RunStateError, NotFoundError):
            continue  # refused before anything was recorded
        if not run.is_done:
            planner.advance(run, now)
        runs.save_runs([(run, before)])
        assert store.tasks() == run_tasks(rebuilt(runs, started.id))
