"""A step's output or error text comes from outside (an ``http`` target): text PostgreSQL's
jsonb cannot store (NUL, a lone surrogate) fails the attempt visibly with ``invalid_output``
(an error message keeps its text, with U+FFFD in place), the run ends, the runs read model
shows it and parks nothing, and the worker stays healthy."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from domain.kernel import validators as v
from tests.integration.engine.conftest import Engine, run_when
from tests.integration.engine.support import LocalServer
from tests.integration.engine.test_runtime import start

pytestmark = pytest.mark.timeout(60)


def one_http_step(url: str) -> dict[str, Any]:
    return {
        "name": "unstorable",
        "steps": [
            {"id": "get", "uses": "http", "with": {"url": url}, "retry": {"max_attempts": 3}}
        ],
        "output": {"status": "${{ steps.get.output.status }}"},
    }


@pytest.fixture
def readmodel(settings: Any, db: Any, engine: Engine) -> Iterator[Any]:
    """The real runs read-model projection, on the system role, following the engine's runs."""
    from api.background import projection_view
    from projections.readmodel.projection import ReadModelProjection
    from projections.runner import ProjectionRunner

    small = settings.model_copy(update={"pool_size": 1, "pool_max_overflow": 1})
    view = projection_view(small, db.system, "readmodel")
    yield ProjectionRunner(engine.runs, ReadModelProjection(), view, batch_size=200, park_after=1)
    view.datastore.close()


def projected(db: Any, run_id: Any) -> tuple[Any, ...]:
    with psycopg.connect(db.system.conninfo) as conn:
        run = conn.execute("SELECT status, reason FROM runs WHERE id = %s", (run_id,)).fetchone()
        step = conn.execute(
            "SELECT status, error FROM run_steps WHERE run_id = %s AND step_id = 'get'", (run_id,)
        ).fetchone()
        parked = conn.execute(
            "SELECT count(*) FROM projection_parked WHERE originator_id = %s", (run_id,)
        ).fetchone()
    assert run is not None
    assert step is not None
    assert parked is not None
    return run, step, parked[0]


@pytest.mark.parametrize(("v_", "why"), [("nul", "NUL"), ("surrogate", "lone surrogates")])
def test_an_output_jsonb_cannot_store_fails_the_step_and_the_run_visibly(
    engine: Engine, http_server: LocalServer, db: Any, readmodel: Any, v_: str, why: str
) -> None:
    run = start(engine, one_http_step(http_server.url(f"/unstorable?v={v_}")), {})
    run = run_when(engine, run.id)
    assert run.status == "failed", run.status
    slot = run.steps["get"]
    error = slot["error"]
    assert (slot["status"], error["kind"], error["retryable"]) == (
        "failed",
        "invalid_output",
        False,
    )
    assert "'/body/a/1'" in error["message"]
    assert why in error["message"]
    assert slot["attempt"] == 1  # deterministic: not retried
    assert http_server.recorder.path_count("/unstorable") >= 1

    readmodel.catch_up()
    (status, reason), (step_status, step_error), parked = projected(db, run.id)
    assert (status, step_status, parked) == ("failed", "failed", 0)
    assert step_error["kind"] == "invalid_output"
    assert reason
    live = engine.worker.liveness()
    assert live["ok"], live
    assert live["parked_runs"] == 0, live


def test_an_error_message_from_the_target_keeps_its_text_with_nul_replaced(
    engine: Engine, http_server: LocalServer, db: Any, readmodel: Any
) -> None:
    run = start(engine, one_http_step(http_server.url("/unstorable_text")), {})
    run = run_when(engine, run.id)
    assert run.status == "failed"
    error = run.steps["get"]["error"]
    assert error["kind"] == "http_status"
    assert "bad\ufffdbody" in error["message"]
    assert v.unstorable(error) is None
    assert v.unstorable(run.reason) is None

    readmodel.catch_up()
    (status, _), (step_status, step_error), parked = projected(db, run.id)
    assert (status, step_status, parked) == ("failed", "failed", 0)
    assert "bad\ufffdbody" in step_error["message"]
    assert engine.worker.liveness()["ok"]


def test_the_worker_runs_the_next_run_as_usual(engine: Engine, http_server: LocalServer) -> None:
    run = start(engine, one_http_step(http_server.url("/unstorable?v=nul")), {})
    assert run_when(engine, run.id).status == "failed"
    ok = start(engine, one_http_step(http_server.url("/order/o-9")), {})
    ok = run_when(engine, ok.id)
    assert ok.status == "succeeded", ok.reason
    assert ok.output == {"status": 200}
    assert engine.worker.liveness()["ok"]
