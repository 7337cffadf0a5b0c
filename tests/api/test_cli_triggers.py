"""``platinum schedules ...`` and ``platinum hooks ...`` against the API on 127.0.0.1."""

from __future__ import annotations

import json
from typing import Any

from typer.testing import CliRunner

from api.cli.main import app
from tests.api.test_runs import QUICK, active_workflow


def cli(url: str, token: str, *args: str) -> Any:
    result = CliRunner().invoke(app, [*args, "--url", url, "--token", token])
    assert result.exit_code == 0, result.output
    # the printed JSON starts on a line of its own (log lines of other tests may surround it)
    lines = result.output.splitlines()
    for i, line in enumerate(lines):
        if line in ("{", "[", "[]"):
            value, _ = json.JSONDecoder().raw_decode("\n".join(lines[i:]))
            return value
    return lines


def test_schedule_and_hook_commands(client, tenant, live_url) -> None:
    url = live_url
    wf = active_workflow(client, tenant.admin_headers, QUICK)
    token = tenant.admin.token
    created = cli(url, token, "schedules", "create", wf, "0 9 * * 1-5",
                  "--timezone", "Europe/Paris")  # fmt: skip
    sid = created["id"]
    assert len(created["next_fire_times"]) == 5
    assert [s["id"] for s in cli(url, token, "schedules", "list", wf)] == [sid]
    assert cli(url, token, "schedules", "pause", sid)["status"] == "paused"
    assert cli(url, token, "schedules", "resume", sid)["status"] == "active"
    assert f"deleted {sid}" in cli(url, token, "schedules", "delete", sid)
    bad = CliRunner().invoke(app, ["schedules", "create", wf, "nope", "--url", url,
                                   "--token", token])  # fmt: skip
    assert bad.exit_code == 1
    assert "/cron" in bad.output
    hook = cli(url, token, "hooks", "create", wf, "--mapping", "{'n': input.n}")
    assert hook["secret"].startswith("whsec_")
    listed = cli(url, token, "hooks", "list", wf)
    assert [h["id"] for h in listed] == [hook["id"]]
    assert "secret" not in listed[0]
    assert f"deleted {hook['id']}" in cli(url, token, "hooks", "delete", hook["id"])
