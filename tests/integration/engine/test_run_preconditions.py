"""If-Match on run writes under real concurrency: two Runs apps (two pools), two threads.

A write that carries the run's version (the ETag) is conditional: whoever loses the race gets
``StaleVersionError`` (HTTP 412), whether the stale version is seen when the run is loaded or
only when its save is refused by the database. A write without a version stays a plain
conflict (409) when it no longer fits the run.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest

from domain.kernel.errors import ConflictError, StaleVersionError
from domain.runs.application import DecideApproval, StartRun
from domain.runs.run import Run
from tests.integration.engine.conftest import Engine
from tests.support.racing import race, spying

pytestmark = pytest.mark.timeout(60)

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


def decisions(engine: Engine, run_id: uuid.UUID) -> list[str]:
    kinds = ("Approved", "Rejected", "Cancelled")
    return [type(e).__name__ for e in engine.runs.events.get(run_id) if type(e).__name__ in kinds]


def test_a_precondition_that_fails_at_the_save_is_412_not_409(
    engine: Engine, second_runs: Any, workflow_id: uuid.UUID
) -> None:
    apps = [engine.runs, second_runs]
    for _ in range(ROUNDS):
        run = waiting_run(engine, workflow_id)
        with spying(apps, gated=True) as spies:
            outcomes = race(
                partial(apps[0].approve_step, decide(run, engine, run.version)),
                partial(apps[1].reject_step, decide(run, engine, run.version)),
            )
        errors = [o.error for o in outcomes]
        lost = [i for i, e in enumerate(errors) if e is not None]
        assert len(lost) == 1, errors
        # the loser passed the check on load; the database refused its save; that is a 412
        assert [spy.clashes for spy in spies] == [int(i == lost[0]) for i in range(2)]
        assert isinstance(errors[lost[0]], StaleVersionError), errors
        assert len(decisions(engine, run.id)) == 1


def test_racing_writers_with_one_etag_lose_with_412_whatever_the_timing(
    engine: Engine, second_runs: Any, workflow_id: uuid.UUID
) -> None:
    for _ in range(ROUNDS):
        run = waiting_run(engine, workflow_id)
        outcomes = race(
            partial(engine.runs.approve_step, decide(run, engine, run.version)),
            partial(second_runs.cancel_run, engine.tenant_id, run.id,
                    expected_version=run.version),
        )  # fmt: skip
        errors = [o.error for o in outcomes]
        lost = [e for e in errors if e is not None]
        assert len(lost) == 1, errors
        assert isinstance(lost[0], StaleVersionError), errors
        assert len(decisions(engine, run.id)) == 1


def test_racing_writers_without_a_precondition_get_a_409_conflict(
    engine: Engine, second_runs: Any, workflow_id: uuid.UUID
) -> None:
    apps = [engine.runs, second_runs]
    run = waiting_run(engine, workflow_id)
    with spying(apps, gated=True) as spies:
        outcomes = race(*(partial(app.approve_step, decide(run, engine, None)) for app in apps))
    errors = [o.error for o in outcomes]
    lost = [e for e in errors if e is not None]
    # the loser's save was refused, it reloaded, and the step no longer waits: a conflict
    assert sum(spy.clashes for spy in spies) == 1
    assert len(lost) == 1, errors
    assert isinstance(lost[0], ConflictError)
    assert not isinstance(lost[0], StaleVersionError)
    assert decisions(engine, run.id) == ["Approved"]
