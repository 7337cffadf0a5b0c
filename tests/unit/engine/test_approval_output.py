"""The `approval` kind's outcome as workflow-dsl.md states it: approve -> succeeded with output
`{approved: true, by, comment}`, reject -> failed with kind `rejected`."""

from __future__ import annotations

from engine.scheduling.planner import EnginePlanner
from tests.unit.engine.harness import T0, definition
from tests.unit.engine.test_wait_timeouts import started

APPROVAL = definition(
    {"id": "ok", "uses": "approval", "with": {"role": "manager"}},
    {"id": "next", "uses": "transform", "needs": ["ok"], "with": "${{ steps.ok.output }}"},
)


def test_an_approved_step_outputs_exactly_approved_by_and_comment() -> None:
    planner = EnginePlanner()
    run = started(APPROVAL, planner=planner)
    assert run.steps["ok"]["waiting"]["role"] == "manager"
    run.approve("ok", by="u-7", comment="fine")
    planner.advance(run, T0)
    expected = {"approved": True, "by": "u-7", "comment": "fine"}
    assert run.steps["ok"]["status"] == "succeeded"
    assert run.steps["ok"]["output"] == expected
    # what later steps read is that same object
    assert run.steps["next"]["output"] == expected
    assert run.status == "succeeded"


def test_without_a_comment_the_output_still_has_the_comment_key() -> None:
    run = started(APPROVAL)
    run.approve("ok", by="u-7")
    assert run.steps["ok"]["output"] == {"approved": True, "by": "u-7", "comment": None}


def test_a_rejected_step_fails_with_kind_rejected() -> None:
    planner = EnginePlanner()
    run = started(APPROVAL, planner=planner)
    run.reject("ok", by="u-7", comment="no")
    planner.advance(run, T0)
    assert run.steps["ok"]["status"] == "failed"
    assert run.steps["ok"]["error"]["kind"] == "rejected"
    assert run.status == "failed"
