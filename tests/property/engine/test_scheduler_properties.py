"""Random DAGs driven by a simulated worker: the scheduler's invariants hold for every run."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.runs.run import STEP_DONE, Run
from engine.scheduling.retry import retry_eligible
from engine.scheduling.scheduler import RunView, decide
from tests.unit.engine.harness import Harness

TRIGGERS = ["all_success", "any_success", "all_done"]


@st.composite
def definitions(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """A DAG with edges only i -> j for i < j (acyclic by construction), and an input."""
    n = draw(st.integers(1, 7))
    steps = []
    for j in range(n):
        needs = draw(st.lists(st.integers(0, j - 1), unique=True, max_size=3)) if j else []
        step: dict[str, Any] = {"id": f"s{j}", "uses": "noop", "needs": [f"s{i}" for i in needs]}
        step["trigger"] = draw(st.sampled_from(TRIGGERS))
        if draw(st.booleans()):
            step["if"] = f"input.flags[{j}]"
        if draw(st.integers(0, 4)) == 0:
            step["foreach"] = "input.items"
            step["max_parallel"] = draw(st.integers(1, 3))
        if draw(st.booleans()):
            step["continue_on_error"] = True
        step["retry"] = {"max_attempts": draw(st.integers(1, 3)), "jitter": draw(st.booleans())}
        steps.append(step)
    flags = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    items = draw(st.lists(st.integers(0, 9), max_size=3))
    return {"name": "prop", "steps": steps}, {"flags": flags, "items": items}


def replay(run: Run, events: list[Any]) -> Run:
    copy = None
    for event in events:
        copy = event.mutate(copy)
    assert copy is not None
    return copy


def slots(run: Run) -> list[tuple[str, int | None, dict[str, Any]]]:
    out = []
    for sid, slot in run.steps.items():
        out.append((sid, None, slot))
        out.extend((sid, i, item) for i, item in enumerate(slot.get("items") or ()))
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=definitions(), data=st.data())
def test_random_runs_keep_the_scheduling_invariants(spec, data):
    defn, run_input = spec
    h = Harness(defn, input=run_input)
    needs = {s["id"]: s["needs"] for s in defn["steps"]}
    triggers = {s["id"]: s["trigger"] for s in defn["steps"]}
    for _ in range(200):
        if h.run.is_done:
            break
        work = h.scheduled()
        if not work:
            break
        sid, index = data.draw(st.sampled_from(work))
        outcome = data.draw(st.sampled_from(["ok", "ok", "fail", "retryable", "cancel"]))
        attempt = h.run.slot(sid, index)["attempt"]
        if outcome == "ok":
            h.run.complete_step(sid, index, attempt, {"v": attempt})
        elif outcome == "cancel" and data.draw(st.integers(0, 9)) == 0:
            h.run.cancel("test")
        else:
            h.run.fail_step(
                sid,
                index,
                attempt,
                error_kind="boom",
                message="x",
                retryable=outcome == "retryable",
            )
        # replaying the same events gives the same decisions
        replayed = replay(h.run, list(h.run.pending_events))
        assert decide(RunView.of(replayed), h.compiled, h.now) == h.decide()
        h.advance()

    events = list(h.run.pending_events)
    # the run always ends: nothing left to schedule means it is terminal
    assert h.run.is_done, (h.statuses(), h.run.status)
    assert h.decide() == []
    # nothing is recorded after the run's terminal event
    names = [type(e).__name__ for e in events]
    end = next(i for i, n in enumerate(names) if n in ("Succeeded", "Failed", "Cancelled"))
    assert end == len(names) - 1

    # every step (and item) ends in exactly one terminal state, with no retry left pending
    for sid, _index, slot in slots(h.run):
        if h.run.status != "cancelled" or slot["status"] != "pending":
            assert slot["status"] in STEP_DONE
        assert not retry_eligible(slot, h.compiled.steps[sid].retry)

    # a step starts only after its needs are finished for good, and per its trigger
    last_change: dict[str, int] = {}
    for i, e in enumerate(events):
        if getattr(e, "step_id", None) is not None and e.index is None:
            last_change[e.step_id] = i
    final = {sid: slot["status"] for sid, slot in h.run.steps.items()}
    for i, e in enumerate(events):
        started = (type(e).__name__ == "StepScheduled" and e.index is None) or type(
            e
        ).__name__ == "ForeachExpanded"
        if not started:
            continue
        need_status = [final[n] for n in needs[e.step_id]]
        assert all(last_change[n] < i for n in needs[e.step_id])
        assert all(s in STEP_DONE for s in need_status)
        trigger = triggers[e.step_id]
        if trigger == "all_success":
            assert all(s == "succeeded" for s in need_status)
        elif trigger == "any_success" and need_status:
            assert "succeeded" in need_status

    # once a step fails for good, only all_done steps start
    hard_failures = [
        i
        for i, e in enumerate(events)
        if type(e).__name__ in ("StepFailed", "Rejected")
        and e.index is None
        and last_change[e.step_id] == i
        and not h.compiled.steps[e.step_id].step.continue_on_error
    ]
    if hard_failures:
        for e in events[hard_failures[0] :]:
            if type(e).__name__ in ("StepScheduled", "ForeachExpanded") and e.index is None:
                assert triggers[e.step_id] == "all_done", e

    # skips propagate through all_success; any_success skips only when no need succeeded
    for sid, status in final.items():
        if status == "skipped" and "condition" not in (h.run.steps[sid]["reason"] or ""):
            ns = [final[n] for n in needs[sid]]
            failing = "not started" in h.run.steps[sid]["reason"]
            if triggers[sid] == "all_success" and not failing:
                assert any(s != "succeeded" for s in ns)
            if triggers[sid] == "any_success" and not failing:
                assert "succeeded" not in ns

    # the run fails iff a step without continue_on_error failed for good
    if h.run.status != "cancelled":
        hard = [
            sid
            for sid, slot in h.run.steps.items()
            if slot["status"] == "failed" and not h.compiled.steps[sid].step.continue_on_error
        ]
        assert (h.run.status == "failed") == bool(hard)
