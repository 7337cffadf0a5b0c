"""Sub-workflows on PostgreSQL: ``workflow:<name>`` starts child runs, waits for them, takes
their outputs; a child's failure fails the step; cancelling the parent cancels the children;
runs nest at most ``MAX_DEPTH`` deep."""

from __future__ import annotations

import pytest

from domain.runs.links import MAX_DEPTH
from tests.integration.engine.links import Linked
from tests.integration.engine.support import LocalServer

pytestmark = pytest.mark.timeout(120)

TIMES_TEN = {
    "name": "times-ten",
    "input_schema": {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}},
    "steps": [{"id": "calc", "uses": "transform", "with": {"n": "${{ input.n * 10 }}"}}],
    "output": "${{ steps.calc.output }}",
}
SLEEPER = {"name": "sleeper", "steps": [{"id": "nap", "uses": "wait", "with": {"seconds": 600}}]}
FAILING = {"name": "failing", "steps": [{"id": "boom", "uses": "fail", "with": {"message": "no"}}]}


def fan_out(name: str, items: str = "[1, 2, 3, 4, 5]", **step: object) -> dict[str, object]:
    return {
        "name": "fan-out",
        "steps": [
            {"id": "fan", "uses": f"workflow:{name}", "foreach": items,
             "with": {"n": "${{ item }}"}, **step},
            {"id": "after", "uses": "transform", "needs": ["fan"],
             "with": {"all": "${{ steps.fan.output }}"}},
        ],
        "output": "${{ steps.after.output.all }}",
    }  # fmt: skip


def test_a_foreach_of_five_sub_workflows_succeeds_with_their_outputs_in_order(
    linked: Linked,
) -> None:
    _, child = linked.workflow(TIMES_TEN)
    parent_id, _ = linked.workflow(fan_out(child))
    run = linked.wait(linked.start(parent_id).id)
    assert run.status == "succeeded", run.reason
    assert run.output == [{"n": 10}, {"n": 20}, {"n": 30}, {"n": 40}, {"n": 50}]
    # one child run per item, each linked to its parent step and item, each told its parent
    items = run.steps["fan"]["items"]
    children = [linked.run(item["child"]) for item in items]
    assert [c.parent for c in children] == [
        {"run_id": str(run.id), "step_id": "fan", "index": i, "attempt": 1} for i in range(5)
    ]
    assert [c.input for c in children] == [{"n": n} for n in range(1, 6)]
    assert all(c.status == "succeeded" and c.reported and c.depth == 1 for c in children)


def test_a_childs_failure_fails_the_step_with_the_childs_error_kind(linked: Linked) -> None:
    _, child = linked.workflow(FAILING)
    parent_id, _ = linked.workflow(
        {"name": "p", "steps": [{"id": "sub", "uses": f"workflow:{child}"}]}
    )
    run = linked.wait(linked.start(parent_id).id)
    assert run.status == "failed"
    error = run.steps["sub"]["error"]
    assert error["kind"] == "fail"
    assert "failed" in error["message"]
    assert "no" in error["message"]
    assert run.error_kind == "fail"


def test_a_retried_sub_workflow_step_starts_a_new_child(
    linked: Linked,
    http_server: LocalServer,
) -> None:
    # the child's http call fails once (503, retryable) and succeeds the second time
    path = f"/order/retry-{linked.tenant_id.hex[:6]}"
    flaky = {"name": "flaky", "steps": [
        {"id": "call", "uses": "http", "with": {"url": http_server.url(f"{path}?flaky=1")}}],
        "output": "${{ steps.call.output.body.id }}"}  # fmt: skip
    _, child = linked.workflow(flaky)
    retry = {"max_attempts": 2, "initial_interval_s": 0, "jitter": False}
    parent_id, _ = linked.workflow(
        {
            "name": "p",
            "steps": [{"id": "sub", "uses": f"workflow:{child}", "retry": retry}],
            "output": "${{ steps.sub.output }}",
        }
    )
    run = linked.wait(linked.start(parent_id).id)
    assert run.status == "succeeded", run.reason
    assert run.output == path.rsplit("/", 1)[-1]
    assert run.steps["sub"]["attempt"] == 2
    second = linked.run(run.steps["sub"]["child"])
    assert second.parent is not None
    assert second.parent["attempt"] == 2
    assert http_server.recorder.path_count(path) == 2  # one call per child


def test_cancelling_the_parent_cancels_its_running_children(linked: Linked) -> None:
    _, child = linked.workflow(SLEEPER)
    parent_id, _ = linked.workflow(fan_out(child, "[1, 2, 3]"))
    run = linked.start(parent_id)
    # every child started and waits on its timer
    run = linked.wait(run.id, lambda r: all(
        (i.get("waiting") or {}).get("child_run_id") for i in r.steps["fan"].get("items") or [{}]
    ) and len(r.steps["fan"].get("items") or []) == 3)  # fmt: skip
    children = [item["child"] for item in run.steps["fan"]["items"]]
    linked.wait(children[-1], lambda c: c.steps["nap"]["waiting"] is not None)
    linked.runs.cancel_run(linked.tenant_id, run.id, "enough")
    # the cancel's own save cancelled them: no worker round trip needed
    for child_id in children:
        stopped = linked.run(child_id)
        assert stopped.status == "cancelled"
        assert str(run.id) in (stopped.reason or "")
    assert linked.run(run.id).status == "cancelled"


def test_pausing_the_parent_pauses_its_running_children_and_resuming_resumes_them(
    linked: Linked,
) -> None:
    _, child = linked.workflow(SLEEPER)
    parent_id, _ = linked.workflow(fan_out(child, "[1, 2]"))
    run = linked.start(parent_id)
    run = linked.wait(run.id, lambda r: all(
        (i.get("waiting") or {}).get("child_run_id") for i in r.steps["fan"].get("items") or [{}]
    ) and len(r.steps["fan"].get("items") or []) == 2)  # fmt: skip
    children = [item["child"] for item in run.steps["fan"]["items"]]
    linked.runs.pause_run(linked.tenant_id, run.id)
    # the pause's own save paused them
    assert [linked.run(c).status for c in children] == ["paused", "paused"]
    linked.runs.resume_run(linked.tenant_id, run.id)
    assert [linked.run(c).status for c in children] == ["running", "running"]
    assert linked.run(run.id).status == "running"
    linked.runs.cancel_run(linked.tenant_id, run.id, "enough")
    assert [linked.run(c).status for c in children] == ["cancelled", "cancelled"]


def test_runs_nest_at_most_max_depth_deep_so_a_cycle_stops(linked: Linked) -> None:
    # A -> B is valid when saved; A is then changed to call B's caller: a cycle only the run
    # time depth limit can see (A's own name is not part of its definition)
    from domain.workflows.commands import UpdateDefinition

    a_id, a_name = linked.workflow({"name": "a", "steps": [{"id": "x", "uses": "noop"}]})
    _, b_name = linked.workflow({"name": "b", "steps": [{"id": "y", "uses": f"workflow:{a_name}"}]})
    linked.container.platform.update_definition(UpdateDefinition(
        tenant_id=linked.tenant_id, workflow_id=a_id, updated_by=linked.admin_id,
        definition={"name": "a", "steps": [{"id": "x", "uses": f"workflow:{b_name}"}]},
    ))  # fmt: skip
    linked.container.wait_caught_up("platform")
    top = linked.wait(linked.start(a_id).id, timeout=60)
    assert top.status == "failed"
    assert top.error_kind == "depth"
    # walk down the tree: the deepest run is at MAX_DEPTH and its step failed with `depth`
    run, depth = top, 0
    while (child := run.steps[next(iter(run.steps))].get("child")) is not None:
        run, depth = linked.run(child), depth + 1
    assert depth == MAX_DEPTH
    assert run.steps[next(iter(run.steps))]["error"]["kind"] == "depth"


def test_a_child_that_ends_in_an_api_save_is_reported_through_its_task(
    linked: Linked,
) -> None:
    from domain.runs.link_commands import SendSignal
    from domain.runs.tasks import START_TASK_STEP, run_tasks

    waits = {"name": "waits", "steps": [{"id": "go", "uses": "signal", "with": {"name": "go"}}],
             "output": "${{ steps.go.output }}"}  # fmt: skip
    _, child = linked.workflow(waits)
    parent_id, _ = linked.workflow(
        {
            "name": "p",
            "steps": [{"id": "sub", "uses": f"workflow:{child}"}],
            "output": "${{ steps.sub.output }}",
        }
    )
    run = linked.wait(linked.start(parent_id).id, lambda r: r.steps["sub"].get("child"))
    child_id = run.steps["sub"]["child"]
    linked.stop_worker()  # (other test modules' workers may still run: the queue is shared)
    # the child ends in the API's own save, which carries its report task
    sent = linked.runs.signal_run(SendSignal(tenant_id=linked.tenant_id, run_id=child_id,
                                             name="go", payload={"done": True},
                                             by=linked.admin_id))  # fmt: skip
    assert sent.run.status == "succeeded"
    [task] = run_tasks(sent.run).values()
    assert (task.step_id, task.kind, task.ready_at) == (START_TASK_STEP, "timer", None)
    # a worker started later (or any other) claims it and finishes the parent
    linked.start_worker()
    done = linked.wait(run.id)
    assert done.status == "succeeded", done.reason
    assert done.output == {"done": True}
    assert linked.run(child_id).reported
