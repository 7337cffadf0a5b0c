"""What the CLI prints of data other people stored (a workflow's name, a step's error from a
run's input or a remote answer) is text: never rich markup, never terminal control codes."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest
from rich.console import Console

from api.cli import remote
from api.cli.runs import render
from api.schemas.runs import RunPublic

HOSTILE = "x [/] [link=http://127.0.0.1:9/]click[/link] \x1b]52;c;ZXZpbA==\x07 \x9b2J \u202egnp"


def _shown(capsys: pytest.CaptureFixture[str]) -> str:
    return capsys.readouterr().out


def test_a_table_cell_is_shown_as_text(capsys: pytest.CaptureFixture[str]) -> None:
    remote.table([{"name": HOSTILE}], ["name"])  # raised MarkupError on "[/]"
    out = _shown(capsys)
    assert "[/]" in out
    assert "[link=http://127.0.0.1:9/]click[/link]" in out
    for control in ("\x1b", "\x07", "\x9b", "\u202e"):
        assert control not in out, repr(control)
    assert "\\x1b]52;c;ZXZpbA==" in out  # shown escaped, not sent to the terminal


def test_a_step_error_is_shown_as_text(capsys: pytest.CaptureFixture[str]) -> None:
    now = datetime.now(UTC)
    run = RunPublic.model_validate({
        "id": uuid4(), "workflow_id": uuid4(), "workflow_version": 1, "status": "failed",
        "input": {}, "output": None, "started_by": "u", "created_at": now, "started_at": now,
        "ended_at": now, "updated_at": now, "version": 3,
        "steps": [{"id": "b", "uses": "fail", "status": "failed", "attempts": 1,
                   "error": {"kind": "failed", "message": HOSTILE}, "updated_at": now}],
    })  # fmt: skip
    Console(soft_wrap=True, width=400).print(render(run))
    out = _shown(capsys)
    assert "failed: x [/] [link=http://127.0.0.1:9/]click[/link]" in out
    for control in ("\x1b", "\x07", "\x9b", "\u202e"):
        assert control not in out, repr(control)


def test_a_failure_line_holds_no_control_codes(capsys: pytest.CaptureFixture[str]) -> None:
    from api.cli.common import fail

    fail(f"HTTP 409: workflow {HOSTILE} exists")
    err = capsys.readouterr().err
    assert err.startswith("error: HTTP 409: workflow x [/]")
    for control in ("\x1b", "\x07", "\x9b", "\u202e"):
        assert control not in err, repr(control)
