from datetime import timedelta

import pytest

from domain.runs.run import StaleStepResultError
from engine.scheduling.decisions import (
    CompleteRun,
    FailRun,
    RetryStep,
    ScheduleStep,
    SkipStep,
)
from engine.scheduling.retry import MAX_LOST_ATTEMPTS, backoff
from tests.unit.engine.example import EXAMPLE
from tests.unit.engine.harness import RUN_ID, T0, Harness, definition


def noop(sid, **extra):
    return {"id": sid, "uses": "noop", **extra}


ORDER = {"status": 200, "body": {"id": "o1", "total": 50, "lines": [{"sku": "a"}, {"sku": "b"}]}}


def test_spec_example_small_order_skips_approval_and_ships():
    h = Harness(EXAMPLE, input={"order_url": "http://shop/o1"})
    assert h.scheduled() == [("fetch", None)]
    h.succeed("fetch", ORDER)
    # small runs, approve is skipped by its `if`, the foreach fans out
    assert h.status("approve") == "skipped"
    assert h.scheduled() == [("small", None), ("each_line", 0), ("each_line", 1)]
    assert h.scheduled_inputs()[("each_line", 1)] == {"sku": "b", "n": 1}
    h.succeed("small")
    assert h.scheduled_inputs()[("ship", None)]["json"] == {"order": "o1"}
    h.succeed("ship", {"status": 200})
    assert h.scheduled_inputs()[("tell", None)]["message"] == "Order o1 shipped"
    h.succeed("tell")
    h.succeed("each_line", {"n": 0}, index=0)
    h.succeed("each_line", {"n": 1}, index=1)
    assert h.run.status == "succeeded"
    assert h.run.output == {"shipped": True}
    assert h.run.steps["each_line"]["output"] == [{"n": 0}, {"n": 1}]


def test_spec_example_large_order_waits_for_approval_then_ships():
    h = Harness(EXAMPLE, input={"order_url": "http://shop/o1"})
    h.succeed("fetch", {**ORDER, "body": {**ORDER["body"], "total": 5000, "lines": []}})
    assert h.status("small") == "skipped"
    assert h.status("each_line") == "succeeded"  # an empty foreach succeeds with []
    assert h.scheduled() == [("approve", None)]
    h.run.wait_step(
        "approve", None, 1, kind="approval", until=T0 + timedelta(days=1), role="manager"
    )
    assert h.advance() == []
    h.run.approve("approve", by="boss", comment="ok")
    h.advance()
    assert h.scheduled() == [("ship", None)]
    h.succeed("ship")
    h.succeed("tell")
    assert (h.run.status, h.run.output) == ("succeeded", {"shipped": True})


def test_a_rejected_approval_skips_any_success_dependants_and_fails_the_run():
    h = Harness(EXAMPLE, input={"order_url": "u"})
    h.succeed("fetch", {"body": {"id": "o", "total": 5000, "lines": []}})
    h.run.wait_step("approve", None, 1, kind="approval", until=None)
    h.run.reject("approve", by="boss", comment="too much")
    h.advance()
    assert h.status("ship") == "skipped"
    assert h.status("tell") == "skipped"
    assert h.run.status == "failed"
    assert h.run.reason == "step 'approve' failed: rejected by boss: too much"


def test_a_step_waits_for_all_needs_before_starting():
    h = Harness(definition(noop("a"), noop("b"), noop("c", needs=["a", "b"])))
    assert h.scheduled() == [("a", None), ("b", None)]
    h.succeed("a")
    assert h.status("c") == "pending"
    h.succeed("b")
    assert h.status("c") == "scheduled"


def test_skips_propagate_through_all_success():
    h = Harness(
        definition(noop("a", **{"if": "false"}), noop("b", needs=["a"]), noop("c", needs=["b"]))
    )
    assert h.statuses() == {"a": "skipped", "b": "skipped", "c": "skipped"}
    assert h.run.status == "succeeded"
    skip = next(d for d in h.log if isinstance(d, SkipStep) and d.step_id == "b")
    assert skip.reason == "need 'a' skipped (trigger all_success)"


def test_any_success_runs_if_one_need_succeeded_and_skips_if_none_did():
    steps = [
        noop("a"),
        noop("b", **{"if": "false"}),
        noop("c", needs=["a", "b"], trigger="any_success"),
    ]
    h = Harness(definition(*steps))
    h.succeed("a")
    assert h.status("c") == "scheduled"
    h2 = Harness(
        definition(noop("a", **{"if": "false"}), noop("c", needs=["a"], trigger="any_success"))
    )
    assert h2.status("c") == "skipped"


def test_all_done_runs_after_a_failure_for_cleanup_then_the_run_fails():
    h = Harness(
        definition(
            noop("a"), noop("b", needs=["a"]), noop("cleanup", needs=["a"], trigger="all_done")
        )
    )
    h.fail("a")
    assert h.status("b") == "skipped"
    assert h.scheduled() == [("cleanup", None)]
    assert h.run.status == "running"
    h.succeed("cleanup")
    assert h.run.status == "failed"


def test_after_a_failure_no_new_step_starts_but_running_ones_finish():
    h = Harness(definition(noop("a"), noop("b"), noop("c", needs=["b"])))
    h.fail("a")
    assert h.status("b") == "scheduled"  # in flight: allowed to finish
    assert h.run.status == "running"
    h.succeed("b")
    assert h.status("c") == "skipped"
    assert h.run.status == "failed"
    assert h.run.reason == "step 'a' failed: a broke"


def test_continue_on_error_keeps_the_run_going_and_skips_all_success_dependants():
    h = Harness(
        definition(
            noop("a", continue_on_error=True),
            noop("b", needs=["a"]),
            noop("c", needs=["a"], trigger="all_done"),
            noop("d"),
        )
    )
    h.fail("a")
    assert h.status("b") == "skipped"
    assert h.status("c") == "scheduled"
    h.succeed("c")
    h.succeed("d")
    assert h.run.status == "succeeded"


def test_retries_back_off_deterministically_then_fail_for_good():
    retry = {"max_attempts": 3, "initial_interval_s": 2, "multiplier": 3, "jitter": False}
    h = Harness(definition(noop("a", retry=retry)))
    [retry1] = h.fail("a", retryable=True)
    assert isinstance(retry1, RetryStep)
    assert retry1.attempt == 2
    assert retry1.not_before == h.run.steps["a"]["failed_at"] + timedelta(seconds=2)
    [retry2] = h.fail("a", retryable=True)
    assert retry2.not_before == h.run.steps["a"]["failed_at"] + timedelta(seconds=6)
    made = h.fail("a", retryable=True)
    assert made == [FailRun("step 'a' failed: a broke")]


def test_a_retry_waits_at_least_the_targets_retry_after_within_max_interval():
    retry = {"max_attempts": 4, "initial_interval_s": 2, "multiplier": 3, "max_interval_s": 60,
             "jitter": False}  # fmt: skip
    h = Harness(definition(noop("a", retry=retry)))
    [r1] = h.fail("a", retryable=True, retry_after_s=30)  # more than the backoff (2 s)
    assert r1.not_before == h.run.steps["a"]["failed_at"] + timedelta(seconds=30)
    [r2] = h.fail("a", retryable=True, retry_after_s=1)  # less than the backoff (6 s)
    assert r2.not_before == h.run.steps["a"]["failed_at"] + timedelta(seconds=6)
    [r3] = h.fail("a", retryable=True, retry_after_s=3600)  # capped by max_interval_s
    assert r3.not_before == h.run.steps["a"]["failed_at"] + timedelta(seconds=60)
    assert h.run.steps["a"]["error"]["retry_after_s"] == 3600


def test_non_retryable_errors_are_not_retried_unless_listed_in_retry_on():
    h = Harness(definition(noop("a", retry={"max_attempts": 3})))
    assert h.fail("a", retryable=False) == [FailRun("step 'a' failed: a broke")]
    h2 = Harness(definition(noop("a", retry={"max_attempts": 3, "retry_on": ["http_4xx"]})))
    assert isinstance(h2.fail("a", "http_4xx")[0], RetryStep)
    assert isinstance(h2.fail("a", "timeout", retryable=True)[0], FailRun)


def test_jitter_is_derived_from_the_run_step_and_attempt():
    from engine.definition.dsl import RetryPolicy

    policy = RetryPolicy(initial_interval_s=10, jitter=True)
    first = backoff(policy, RUN_ID, "a", None, 1)
    assert first == backoff(policy, RUN_ID, "a", None, 1)
    assert 5 <= first < 10
    assert first != backoff(policy, RUN_ID, "b", None, 1)


def test_a_failing_if_expression_fails_the_step_with_kind_expression():
    h = Harness(definition(noop("a", **{"if": "input.missing > 1"})))
    error = h.run.steps["a"]["error"]
    assert error["kind"] == "expression"
    assert "no such key" in error["message"]
    assert h.run.status == "failed"


def test_foreach_respects_max_parallel():
    step = noop("each", foreach="${{ input.xs }}", max_parallel=2, **{"with": "${{ item * 10 }}"})
    h = Harness(definition(step), input={"xs": [1, 2, 3, 4, 5]})
    assert h.scheduled() == [("each", 0), ("each", 1)]
    h.succeed("each", "r0", index=0)
    assert h.scheduled() == [("each", 1), ("each", 2)]
    for i in (1, 2, 3, 4):
        h.succeed("each", f"r{i}", index=i)
    assert h.run.steps["each"]["output"] == ["r0", "r1", "r2", "r3", "r4"]
    assert h.scheduled_inputs()[("each", 4)] == 50
    assert h.run.status == "succeeded"


def test_a_failed_foreach_item_stops_new_items_and_fails_the_step():
    step = noop("each", foreach="input.xs", max_parallel=2)
    h = Harness(definition(step), input={"xs": [1, 2, 3, 4]})
    h.fail("each", index=0)
    assert h.status("each", 2) == "skipped"
    assert h.status("each", 3) == "skipped"
    assert h.status("each") == "running"  # item 1 is still in flight
    h.succeed("each", index=1)
    assert h.status("each") == "failed"
    assert h.run.steps["each"]["error"]["message"] == "item 0 failed: each broke"
    assert h.run.status == "failed"


def test_a_wait_step_is_a_durable_timer_completed_by_the_scheduler():
    h = Harness(definition({"id": "w", "uses": "wait", "with": {"seconds": 60}}))
    h.run.wait_step("w", None, 1, kind="wait", until=T0 + timedelta(seconds=60))
    assert h.advance() == []
    h.now = T0 + timedelta(seconds=61)
    h.advance()
    assert h.run.steps["w"]["output"] == {"waited_until": "2030-01-01T00:01:00Z"}
    assert h.run.status == "succeeded"


def test_an_approval_past_its_deadline_times_out():
    h = Harness(definition({"id": "ok", "uses": "approval", "with": {"role": "r"}}))
    h.run.wait_step("ok", None, 1, kind="approval", until=T0 + timedelta(hours=1), role="r")
    h.now = T0 + timedelta(hours=2)
    h.advance()
    assert h.run.steps["ok"]["error"]["kind"] == "timeout"
    assert h.run.status == "failed"


def test_a_running_attempt_past_its_first_lease_is_the_queues_not_the_schedulers():
    # the worker's heartbeat renews the queue's lease; the run's record of the first lease
    # says nothing about whether the worker is alive
    h = Harness(definition(noop("a")))
    h.run.start_step("a", None, 1, "w1", lease_until=T0 + timedelta(seconds=30), token=1)
    h.now = T0 + timedelta(hours=1)
    assert h.advance() == []
    assert h.status("a") == "running"


def test_a_lost_lease_is_retried_at_once_even_without_a_retry_policy():
    h = Harness(definition(noop("a")))
    h.run.start_step("a", None, 1, "w1", token=3)
    # the queue gave the attempt out MAX_CLAIMS times: the worker records it lost
    h.run.fail_step("a", None, 1, error_kind="lease_expired", message="lost", retryable=True,
                    token=3)  # fmt: skip
    made = h.advance()
    assert [type(d).__name__ for d in made] == ["RetryStep"]
    assert made[0].not_before is None
    assert h.status("a") == "scheduled"
    assert h.run.steps["a"]["attempt"] == 2
    # the zombie worker's late result is refused
    with pytest.raises(StaleStepResultError):
        h.run.complete_step("a", None, 1, "late")


def test_lost_attempts_are_retried_max_lost_attempts_times_beyond_the_policy():
    h = Harness(definition(noop("a")))
    for attempt in range(1, MAX_LOST_ATTEMPTS + 2):
        h.run.start_step("a", None, attempt, "w1", token=1)
        h.run.fail_step("a", None, attempt, error_kind="lease_expired", message="lost",
                        retryable=True, token=1)  # fmt: skip
        h.advance()
    assert h.run.steps["a"]["lost"] == MAX_LOST_ATTEMPTS + 1
    assert h.status("a") == "failed"
    assert h.run.status == "failed"


def test_nothing_is_scheduled_while_paused_and_work_resumes_after():
    h = Harness(definition(noop("a"), noop("b", needs=["a"])))
    h.run.pause()
    h.succeed("a")  # a step already scheduled may still finish
    assert h.status("b") == "pending"
    h.run.resume()
    h.advance()
    assert h.status("b") == "scheduled"


def test_cancel_ends_every_unfinished_step_and_nothing_follows():
    h = Harness(definition(noop("a"), noop("b", needs=["a"])))
    h.run.cancel("user asked")
    assert h.statuses() == {"a": "cancelled", "b": "cancelled"}
    assert h.run.status == "cancelled"
    assert h.decide() == []


def test_nothing_is_decided_after_the_run_is_terminal():
    h = Harness(definition(noop("a")))
    h.succeed("a")
    assert h.run.status == "succeeded"
    assert h.decide() == []


def test_a_failing_output_expression_fails_the_run():
    h = Harness(definition(noop("a"), output="${{ steps.a.output.x }}"))
    assert isinstance(h.succeed("a", {})[-1], FailRun)


def test_the_whole_cascade_is_decided_in_one_pass():
    h = Harness(
        definition(noop("a", **{"if": "false"}), noop("b", needs=["a"]), noop("c", needs=["b"]))
    )
    first = h.log
    assert [type(d) for d in first] == [SkipStep, SkipStep, SkipStep, CompleteRun]
    assert h.run.version == 5  # Started + 3 skips + Succeeded: one save's worth of events


def test_a_scheduled_step_gets_its_evaluated_input():
    h = Harness(
        definition(noop("a", **{"with": {"x": "${{ input.v }}", "by": "${{ run.started_by }}"}})),
        input={"v": [1]},
    )
    [d] = [d for d in h.log if isinstance(d, ScheduleStep)]
    assert d.input == {"x": [1], "by": "u1"}
    assert h.run.steps["a"]["input"] == {"x": [1], "by": "u1"}
