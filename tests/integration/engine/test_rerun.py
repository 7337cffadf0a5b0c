"""Reruns on PostgreSQL: a run failed at step 7 of a chain of 10 ``http`` steps reruns from the
failed step, reusing the outputs of steps 1-6 and calling only steps 7-10 again."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from domain.kernel.errors import ValidationError
from domain.runs.link_commands import RerunRun
from domain.runs.run import RunStateError
from tests.integration.engine.links import Linked
from tests.integration.engine.support import LocalServer

pytestmark = pytest.mark.timeout(120)


def chain(server: LocalServer, prefix: str, flaky_at: int) -> dict[str, Any]:
    steps: list[dict[str, Any]] = []
    for i in range(1, 11):
        query = "?flaky=1" if i == flaky_at else ""
        url = server.url(f"/order/{prefix}-{i}{query}")
        step: dict[str, Any] = {"id": f"s{i}", "uses": "http", "with": {"url": url}}
        if i > 1:
            step["needs"] = [f"s{i - 1}"]
        steps.append(step)
    return {"name": "chain", "steps": steps, "output": "${{ steps.s10.output.body.id }}"}


def rerun(linked: Linked, run: Any, **options: Any) -> Any:
    workflow = linked.container.platform.get_workflow(linked.tenant_id, run.workflow_id)
    return linked.runs.rerun(RerunRun(
        tenant_id=linked.tenant_id, run_id=run.id, started_by=linked.admin_id,
        definition=workflow.definition_at(run.workflow_version), **options,
    ))  # fmt: skip


def test_a_run_failed_at_step_7_of_10_reruns_only_steps_7_to_10(
    linked: Linked,
    http_server: LocalServer,
) -> None:
    prefix = f"rerun-{uuid.uuid4().hex[:8]}"
    wf, _ = linked.workflow(chain(http_server, prefix, flaky_at=7))
    first = linked.wait(linked.start(wf).id)
    assert first.status == "failed"
    assert first.steps["s7"]["status"] == "failed"
    calls = [http_server.recorder.path_count(f"/order/{prefix}-{i}") for i in range(1, 11)]
    assert calls == [1, 1, 1, 1, 1, 1, 1, 0, 0, 0]
    # rerun from the failed step (the default): 1-6 reused, 7-10 run
    again = rerun(linked, first)
    assert again.reused == [f"s{i}" for i in range(1, 7)]
    assert again.run.rerun_of == str(first.id)
    done = linked.wait(again.run.id)
    assert done.status == "succeeded", done.reason
    assert done.output == f"{prefix}-10"
    calls = [http_server.recorder.path_count(f"/order/{prefix}-{i}") for i in range(1, 11)]
    assert calls == [1, 1, 1, 1, 1, 1, 2, 1, 1, 1]
    for i in range(1, 7):  # the reused outputs are the first run's, and say so
        assert done.steps[f"s{i}"]["output"] == first.steps[f"s{i}"]["output"]
        assert done.steps[f"s{i}"]["reused"] == str(first.id)
    assert "reused" not in done.steps["s7"]


def test_a_rerun_from_a_step_runs_it_and_everything_downstream(
    linked: Linked,
    http_server: LocalServer,
) -> None:
    prefix = f"from-{uuid.uuid4().hex[:8]}"
    wf, _ = linked.workflow(chain(http_server, prefix, flaky_at=0))
    first = linked.wait(linked.start(wf).id)
    assert first.status == "succeeded", first.reason
    again = rerun(linked, first, from_step="s9")
    assert again.reused == [f"s{i}" for i in range(1, 9)]
    assert linked.wait(again.run.id).status == "succeeded"
    calls = [http_server.recorder.path_count(f"/order/{prefix}-{i}") for i in range(1, 11)]
    assert calls == [1] * 8 + [2, 2]


def test_a_running_run_or_an_unknown_step_cannot_be_rerun(linked: Linked) -> None:
    wf, _ = linked.workflow({"name": "w", "steps": [
        {"id": "go", "uses": "signal", "with": {"name": "go"}}]})  # fmt: skip
    run = linked.start(wf)
    with pytest.raises(RunStateError, match="rerun it once it ends"):
        rerun(linked, run)
    linked.runs.cancel_run(linked.tenant_id, run.id)
    with pytest.raises(ValidationError):
        rerun(linked, linked.run(run.id), from_step="nope")
