"""Pause and resume on PostgreSQL: a paused run's timer does not fire; resuming finishes it."""

from __future__ import annotations

import psycopg
import pytest

from domain.kernel.clock import utc_now
from domain.runs.run import RunStateError
from tests.integration.engine.conftest import Engine, run_when
from tests.integration.engine.test_runtime import start
from tests.support.polling import wait_until

pytestmark = pytest.mark.timeout(60)

WAIT_THEN_NOOP = {"name": "nap", "steps": [
    {"id": "nap", "uses": "wait", "with": {"seconds": 1}},
    {"id": "after", "uses": "noop", "needs": ["nap"]},
]}  # fmt: skip


def _task_rows(engine: Engine, run_id: object) -> int:
    with psycopg.connect(engine.worker.tasks.conninfo, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM run_tasks WHERE run_id = %s", (run_id,)).fetchone()
    return int(row[0]) if row else 0


def test_a_paused_run_stays_paused_past_its_timer_and_resume_finishes_it(engine: Engine) -> None:
    run = start(engine, WAIT_THEN_NOOP, {})
    run = run_when(engine, run.id, lambda r: r.steps["nap"]["waiting"] is not None)
    until = run.steps["nap"]["waiting"]["until"]
    paused = engine.runs.pause_run(engine.tenant_id, run.id, expected_version=run.version)
    assert paused.status == "paused"
    assert _task_rows(engine, run.id) == 0  # the timer left the queue with the pause
    # past the timer, and the claimer has looked at the queue twice since: nothing fired
    looked = engine.worker.stats()["claim_queries"]
    wait_until(
        lambda: utc_now() > until and engine.worker.stats()["claim_queries"] >= looked + 2,
        30,
        message="the claimer to go round twice past the timer",
    )
    still = engine.runs.get_run(engine.tenant_id, run.id)
    assert still.status == "paused"
    assert still.version == paused.version  # nothing recorded while paused
    assert still.steps["nap"]["status"] == "running"
    engine.runs.resume_run(engine.tenant_id, run.id)
    done = run_when(engine, run.id)
    assert done.status == "succeeded", done.reason
    assert done.steps["after"]["status"] == "succeeded"


def test_pausing_a_finished_run_or_resuming_a_running_one_is_refused(engine: Engine) -> None:
    run = start(engine, {"name": "quick", "steps": [{"id": "a", "uses": "noop"}]}, {})
    done = run_when(engine, run.id)
    assert done.status == "succeeded"
    with pytest.raises(RunStateError, match="cannot pause a succeeded run"):
        engine.runs.pause_run(engine.tenant_id, run.id)
    waiting = start(engine, WAIT_THEN_NOOP, {})
    with pytest.raises(RunStateError, match="cannot resume a running run"):
        engine.runs.resume_run(engine.tenant_id, waiting.id)
    assert run_when(engine, waiting.id).status == "succeeded"
