"""Signals on PostgreSQL: a ``signal`` step waits for ``signal_run``, whose payload is its output;
a signal sent before the step waits is kept for it; past its timeout the step fails (kind
``timeout``)."""

from __future__ import annotations

import pytest

from domain.kernel.errors import ValidationError
from domain.runs.link_commands import SendSignal
from domain.runs.run import RunStateError
from tests.integration.engine.links import Linked

pytestmark = pytest.mark.timeout(120)

WAITS_FOR_GO = {
    "name": "waits-for-go",
    "steps": [
        {"id": "go", "uses": "signal", "with": {"name": "go"}, "timeout_s": 600},
        {"id": "after", "uses": "transform", "needs": ["go"],
         "with": {"got": "${{ steps.go.output }}"}},
    ],
    "output": "${{ steps.after.output.got }}",
}  # fmt: skip


def send(linked: Linked, run_id: object, name: str, payload: object) -> object:
    return linked.runs.signal_run(SendSignal(
        tenant_id=linked.tenant_id, run_id=run_id, name=name, payload=payload, by=linked.admin_id,
    ))  # fmt: skip


def test_a_signal_with_a_payload_resumes_its_run(linked: Linked) -> None:
    wf, _ = linked.workflow(WAITS_FOR_GO)
    run = linked.start(wf)
    assert run.steps["go"]["waiting"]["name"] == "go"  # it waits from the start's own save
    sent = send(linked, run.id, "go", {"order": 42, "ok": True})
    assert (sent.step_id, sent.index) == ("go", None)  # type: ignore[attr-defined]
    done = linked.wait(run.id)
    assert done.status == "succeeded", done.reason
    assert done.steps["go"]["output"] == {"order": 42, "ok": True}
    assert done.output == {"order": 42, "ok": True}


def test_a_signal_sent_before_its_step_waits_is_kept_for_it(linked: Linked) -> None:
    definition = {
        "name": "early",
        "steps": [
            {"id": "nap", "uses": "wait", "with": {"seconds": 1}},
            {"id": "go", "uses": "signal", "needs": ["nap"], "with": {"name": "go"}},
        ],
        "output": "${{ steps.go.output }}",
    }
    wf, _ = linked.workflow(definition)
    run = linked.start(wf)
    sent = send(linked, run.id, "go", [1, 2, 3])
    assert sent.step_id is None  # type: ignore[attr-defined]  # buffered: nobody waits yet
    assert linked.run(run.id).signals == [{"name": "go", "payload": [1, 2, 3]}]
    done = linked.wait(run.id)
    assert done.status == "succeeded", done.reason
    assert done.output == [1, 2, 3]
    assert done.signals == []


def test_a_signal_that_does_not_come_in_time_fails_with_kind_timeout(linked: Linked) -> None:
    definition = {"name": "short", "steps": [
        {"id": "go", "uses": "signal", "with": {"name": "go"}, "timeout_s": 1}]}  # fmt: skip
    wf, _ = linked.workflow(definition)
    done = linked.wait(linked.start(wf).id)
    assert done.status == "failed"
    assert done.steps["go"]["error"]["kind"] == "timeout"
    assert "no signal 'go'" in done.steps["go"]["error"]["message"]
    # an ended run takes no signal; a bad name is refused before anything is recorded
    with pytest.raises(RunStateError):
        send(linked, done.id, "go", {})
    with pytest.raises(ValidationError):
        send(linked, done.id, "no spaces", {})
    assert linked.run(done.id).version == done.version
