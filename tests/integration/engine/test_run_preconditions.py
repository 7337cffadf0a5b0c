"""If-Match on run writes under real concurrency: two Runs apps (two pools), two threads.

A write that carries the run's version (the ETag) is conditional: whoever loses the race gets
``StaleVersionError`` (HTTP 412), whether the stale version is seen when the run is loaded or
only when its save is refused by the database. A write without a version stays a plain
conflict (409) when it no longer fits the run.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError

from domain.kernel.errors import ConflictError, StaleVersionError
from domain.runs.application import DecideApproval, StartRun
from domain.runs.run import Run
from tests.integration.engine.conftest import Engine

pytestmark = pytest.mark.timeout(60)

TIMEOUT_S = 30
ROUNDS = 4
APPROVAL = {
    "name": "approve-me",
    "steps": [
        {"id": "prep", "uses": "transform", "with": {"n": 1}},
        {"id": "ok", "uses": "approval", "needs": ["prep"], "with": {"role": "manager"}},
    ],
}


@pytest.fixture
def second_runs(engine: Engine, settings: Any, db: Any) -> Iterator[Any]:
    """Another API-side Runs app on its own pool: the second writer."""
    from engine.scheduling.planner import build_runs
    from projections.queries.skills import InstalledSkills

    runs = build_runs(
        db.system.eventsourcing_env(settings),
        platform=engine.platform,
        skill_catalog=InstalledSkills(db.system.conninfo),
    )
    runs.recorder.max_notification_id()  # connect now, not inside the race
    yield runs
    runs.close()


@pytest.fixture(scope="module")
def workflow_id(engine: Engine) -> uuid.UUID:
    from domain.workflows.commands import CreateWorkflow

    wf = engine.platform.create_workflow(
        CreateWorkflow(tenant_id=engine.tenant_id, name=f"wf-{uuid.uuid4().hex[:6]}",
                       definition=APPROVAL, created_by=engine.admin_id)
    )  # fmt: skip
    return wf.id  # type: ignore[no-any-return]


def waiting_run(engine: Engine, workflow_id: uuid.UUID) -> Run:
    run: Run = engine.runs.start_run(
        StartRun(tenant_id=engine.tenant_id, workflow_id=workflow_id, workflow_version=1,
                 definition=APPROVAL, input={}, started_by=engine.admin_id)
    )  # fmt: skip
    assert run.steps["ok"]["waiting"] is not None
    return run


def decide(run: Run, engine: Engine, expected: int | None) -> DecideApproval:
    return DecideApproval(
        tenant_id=engine.tenant_id, run_id=run.id, step_id="ok", user_id=engine.manager_id,
        roles={"manager"}, expected_version=expected,
    )  # fmt: skip


class GatedSave:
    """Holds each app's first save at a barrier, so both racers have loaded the run (at the
    same version) before either writes: the clash is then found at the save, not before."""

    def __init__(self, apps: list[Any]) -> None:
        self.gate = threading.Barrier(len(apps))
        self.refused = [0] * len(apps)
        self.apps = apps
        self.first = [True] * len(apps)
        self.saves = [app.save for app in apps]
        for i, app in enumerate(apps):
            app.save = partial(self._save, i)

    def _save(self, i: int, *args: Any, **kwargs: Any) -> Any:
        if self.first[i]:  # only the first save waits: a retry must not block
            self.first[i] = False
            self.gate.wait(timeout=TIMEOUT_S)
        try:
            return self.saves[i](*args, **kwargs)
        except IntegrityError:
            self.refused[i] += 1
            raise

    def restore(self) -> None:
        for app, save in zip(self.apps, self.saves, strict=True):
            app.save = save


def race(*calls: Callable[[], Any]) -> list[BaseException | None]:
    """Run ``calls`` in threads released together; each call's exception (None: it won)."""
    barrier = threading.Barrier(len(calls))
    errors: list[BaseException | None] = [None] * len(calls)

    def run(i: int, call: Callable[[], Any]) -> None:
        barrier.wait(timeout=TIMEOUT_S)
        try:
            call()
        except Exception as e:
            errors[i] = e

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT_S)
    assert not any(t.is_alive() for t in threads), "a racing command hung"
    return errors


def decisions(engine: Engine, run_id: uuid.UUID) -> list[str]:
    kinds = ("Approved", "Rejected", "Cancelled")
    return [type(e).__name__ for e in engine.runs.events.get(run_id) if type(e).__name__ in kinds]


def test_a_precondition_that_fails_at_the_save_is_412_not_409(
    engine: Engine, second_runs: Any, workflow_id: uuid.UUID
) -> None:
    apps = [engine.runs, second_runs]
    for _ in range(ROUNDS):
        run = waiting_run(engine, workflow_id)
        gated = GatedSave(apps)
        try:
            errors = race(
                partial(apps[0].approve_step, decide(run, engine, run.version)),
                partial(apps[1].reject_step, decide(run, engine, run.version)),
            )
        finally:
            gated.restore()
        lost = [i for i, e in enumerate(errors) if e is not None]
        assert len(lost) == 1, errors
        # the loser passed the check on load; the database refused its save; that is a 412
        assert gated.refused == [int(i == lost[0]) for i in range(2)]
        assert isinstance(errors[lost[0]], StaleVersionError), errors
        assert len(decisions(engine, run.id)) == 1


def test_racing_writers_with_one_etag_lose_with_412_whatever_the_timing(
    engine: Engine, second_runs: Any, workflow_id: uuid.UUID
) -> None:
    for _ in range(ROUNDS):
        run = waiting_run(engine, workflow_id)
        errors = race(
            partial(engine.runs.approve_step, decide(run, engine, run.version)),
            partial(second_runs.cancel_run, engine.tenant_id, run.id,
                    expected_version=run.version),
        )  # fmt: skip
        lost = [e for e in errors if e is not None]
        assert len(lost) == 1, errors
        assert isinstance(lost[0], StaleVersionError), errors
        assert len(decisions(engine, run.id)) == 1


def test_racing_writers_without_a_precondition_get_a_409_conflict(
    engine: Engine, second_runs: Any, workflow_id: uuid.UUID
) -> None:
    apps = [engine.runs, second_runs]
    run = waiting_run(engine, workflow_id)
    gated = GatedSave(apps)
    try:
        errors = race(*(partial(app.approve_step, decide(run, engine, None)) for app in apps))
    finally:
        gated.restore()
    lost = [e for e in errors if e is not None]
    # the loser's save was refused, it reloaded, and the step no longer waits: a conflict
    assert sum(gated.refused) == 1
    assert len(lost) == 1, errors
    assert isinstance(lost[0], ConflictError)
    assert not isinstance(lost[0], StaleVersionError)
    assert decisions(engine, run.id) == ["Approved"]
