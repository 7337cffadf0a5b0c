"""The Run aggregate, called directly (tested here: tests/unit/engine is owned with it)."""

from datetime import timedelta

import pytest
from eventsourcing.application import Application

from domain.kernel import validators as v
from domain.kernel.actor import Actor, acting_as
from domain.runs.run import MAX_OUTPUT_BYTES, Run, RunStateError, StaleStepResultError
from tests.unit.engine.harness import T0, Harness, definition


def started():
    return Run.start(
        tenant_id="t1", workflow_id="wf", workflow_version=3, definition_hash="h",
        step_ids=["a", "b"], input={"x": 1}, started_by="u1", idempotency_key="k1",
    )  # fmt: skip


def test_start_records_the_pinned_version_input_and_actor():
    with acting_as(Actor(user_id="u1", tenant_id="t1", kind="user")):
        run = started()
    [event] = run.collect_events()
    assert type(event).__name__ == "Started"
    assert (event.workflow_version, event.input, event.idempotency_key) == (3, {"x": 1}, "k1")
    assert event.meta == {"user_id": "u1", "tenant_id": "t1", "kind": "user"}
    assert run.status == "running"
    assert run.steps["a"]["status"] == "pending"


def test_a_result_without_a_prior_start_records_start_and_result_together():
    run = started()
    run.schedule_step("a", None, 1, None, {"in": 1})
    run.complete_step("a", None, 1, {"out": 1}, worker_id="w9")
    names = [type(e).__name__ for e in run.collect_events()]
    assert names == ["Started", "StepScheduled", "StepStarted", "StepSucceeded"]
    assert run.steps["a"]["worker_id"] == "w9"


def test_an_output_over_the_limit_fails_the_step_with_output_too_large():
    run = started()
    run.schedule_step("a", None, 1, None, None)
    run.complete_step("a", None, 1, "x" * (MAX_OUTPUT_BYTES + 1))
    error = run.steps["a"]["error"]
    assert error["kind"] == "output_too_large"
    assert not error["retryable"]
    assert "the limit is 262,144 bytes" in error["message"]


def test_a_non_json_output_fails_the_step():
    run = started()
    run.schedule_step("a", None, 1, None, None)
    run.complete_step("a", None, 1, {"x": float("nan")})
    assert run.steps["a"]["error"]["kind"] == "invalid_output"


def test_a_result_for_an_old_attempt_is_refused():
    run = started()
    run.schedule_step("a", None, 1, None, None)
    run.fail_step("a", None, 1, error_kind="timeout", message="slow", retryable=True)
    run.schedule_retry("a", None, 2, T0)
    with pytest.raises(StaleStepResultError, match="attempt 1"):
        run.complete_step("a", None, 1, "late")


def test_commands_are_refused_once_the_run_is_over():
    run = started()
    run.cancel()
    with pytest.raises(RunStateError):
        run.schedule_step("a", None, 1, None, None)
    with pytest.raises(RunStateError):
        run.pause()


def test_approval_needs_a_waiting_approval_step():
    run = started()
    run.schedule_step("a", None, 1, None, None)
    run.start_step("a", None, 1, "w1")
    with pytest.raises(RunStateError, match="not waiting for an approval"):
        run.approve("a", by="boss")


def test_unknown_steps_are_not_found():
    from domain.kernel.errors import NotFoundError

    with pytest.raises(NotFoundError):
        started().slot("nope")


def test_event_bodies_are_deterministic_replay_gives_the_same_state():
    h = Harness(
        definition(
            {"id": "a", "uses": "noop", "retry": {"max_attempts": 2}},
            {"id": "b", "uses": "noop", "foreach": "input.xs"},
        ),
        input={"xs": [1, 2]},
    )
    h.fail("a", retryable=True)
    h.succeed("b", 1, index=0)
    events = h.run.collect_events()
    replayed = None
    for event in events:
        replayed = event.mutate(replayed)
    assert replayed.__dict__ == {**h.run.__dict__, "_pending_events": []}


def test_a_run_round_trips_through_a_store_and_a_snapshot():
    class Runs(Application):
        is_snapshotting_enabled = True

    app = Runs()
    h = Harness(
        definition(
            {"id": "w", "uses": "wait", "with": {"seconds": 5}},
            {"id": "e", "uses": "noop", "foreach": "input.xs"},
        ),
        input={"xs": ["p", "q"]},
    )
    h.run.wait_step("w", None, 1, kind="wait", until=T0 + timedelta(seconds=5))
    h.succeed("e", "P", index=0)
    app.save(h.run)  # one save for every event so far
    app.take_snapshot(h.run.id)
    assert app.snapshots is not None
    assert list(app.snapshots.get(h.run.id))
    loaded = app.repository.get(h.run.id)
    assert loaded.steps == h.run.steps
    assert loaded.started_at == h.run.started_at


@pytest.mark.parametrize(
    ("output", "pointer"),
    [({"a": "\u0000"}, "/a"), ({"a": ["ok", "\ud800"]}, "/a/1"), ({"k\u0000": 1}, "/k\x00")],
)
def test_an_output_jsonb_cannot_store_fails_the_step_with_invalid_output(output, pointer):
    run = started()
    run.schedule_step("a", None, 1, None, None)
    run.complete_step("a", None, 1, output)
    error = run.steps["a"]["error"]
    assert (run.steps["a"]["status"], error["kind"], error["retryable"]) == (
        "failed",
        "invalid_output",
        False,
    )
    assert f"at {pointer!r}" in error["message"]
    # what is recorded is itself storable: no event carries NUL or a lone surrogate
    for event in run.collect_events():
        assert v.unstorable(vars(event)) is None, type(event).__name__


def test_a_run_output_jsonb_cannot_store_fails_the_run():
    run = started()
    run.succeed({"r": "x\u0000"})
    assert run.status == "failed"
    assert "'/r'" in run.reason


def test_a_targets_error_message_keeps_its_text_with_unstorable_characters_replaced():
    run = started()
    run.schedule_step("a", None, 1, None, None)
    run.fail_step("a", None, 1, error_kind="http", message="bad\u0000 \ud800body", retryable=False)
    assert run.steps["a"]["error"]["message"] == "bad\ufffd \ufffdbody"
    run.fail("step a: bad\u0000")
    assert run.reason == "step a: bad\ufffd"
    for event in run.collect_events():
        assert v.unstorable(vars(event)) is None, type(event).__name__
