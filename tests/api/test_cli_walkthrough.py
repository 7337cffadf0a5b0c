"""The README's walkthrough through the ``platinum`` command line alone, against a live
``platinum serve``: tenant → login → submit → activate → start → watch → approve → watch →
history. Every command is a process of its own, as a person at a shell would run it."""

from __future__ import annotations

import json
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.api.conftest import ROOT
from tests.api.test_readme_walkthrough import blocks
from tests.conftest import ADMIN_TOKEN
from tests.support.polling import wait_until

PASSWORD = "correct horse battery"


def readme_definition() -> str:
    """The YAML the README's walkthrough submits (its heredoc)."""
    found = re.search(r"<<'YAML'[^\n]*\n(.*?\n)YAML\n", "\n".join(blocks()), re.S)
    assert found, "the README walkthrough has no YAML heredoc"
    return found.group(1)


def platinum(env: dict[str, str], *args: str, stdin: str | None = None,
             ok: bool = True) -> subprocess.CompletedProcess[str]:  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "api.cli", *args], cwd=ROOT, env=env, input=stdin,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    if ok:
        assert done.returncode == 0, f"{args}: {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def as_json(done: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(done.stdout)


def test_the_walkthrough_through_the_cli(live_server, tmp_path: Path) -> None:
    base, server_env = live_server
    env = {**server_env, "PLATINUM_CONFIG_DIR": str(tmp_path / "config"), "COLUMNS": "120"}
    for variable in ("PLATINUM_URL", "PLATINUM_TOKEN", "DATABASE_URL"):
        env.pop(variable, None)  # the CLI knows the server only from login

    platinum(env, "tenants", "create", "acme", "--name", "Acme", "--admin-email",
             "ada@acme.io", "--admin-password", PASSWORD, "--url", base, "--token", ADMIN_TOKEN)
    # the password is prompted for, hidden
    login = platinum(env, "login", "--url", base, "--tenant", "acme", "--email", "ada@acme.io",
                     stdin=PASSWORD + "\n")  # fmt: skip
    assert f"logged in to {base} as ada@acme.io" in login.stdout
    kept = tmp_path / "config" / "credentials.json"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert PASSWORD not in kept.read_text()

    definition = tmp_path / "order-approval.yaml"
    definition.write_text(readme_definition())
    wf = as_json(platinum(env, "workflows", "submit", str(definition), "--json"))
    assert (wf["name"], wf["status"]) == ("order-approval", "draft")
    assert "active" in platinum(env, "workflows", "activate", wf["id"]).stdout
    listed = as_json(platinum(env, "workflows", "list", "--json"))
    assert [w["id"] for w in listed] == [wf["id"]]

    order = {"order_id": "A-1001", "total": 2500, "lines": [{"sku": "X1"}, {"sku": "Y2"}]}
    run = as_json(platinum(env, "runs", "start", wf["id"], "--input", json.dumps(order),
                           "--idempotency-key", "order-A-1001", "--json"))  # fmt: skip
    waiting = platinum(env, "runs", "watch", run["id"], "--until-waiting")
    shows = r"approve\s+running\s+\d+\s+waits for approval \(manager\)"
    assert re.search(shows, waiting.stdout), waiting.stdout

    platinum(env, "runs", "approve", run["id"], "approve", "--comment", "fine by me")
    watched = platinum(env, "runs", "watch", run["id"])
    assert "succeeded" in watched.stdout
    shown = as_json(platinum(env, "runs", "show", run["id"], "--json"))
    assert shown["status"] == "succeeded"
    assert shown["output"] == {"shipped": True}
    assert [r["id"] for r in as_json(platinum(env, "runs", "list", "--json"))] == [run["id"]]

    # the audit log is a projection: it may lag the run by a moment
    history = wait_until(
        lambda: platinum(env, "audit", "history", "run", run["id"], "--json", ok=False),
        30, until=lambda done: done.returncode == 0, message="the run's audit history",
    )  # fmt: skip
    types = [e["type"] for e in as_json(history)["events"]]
    assert types[0] == "Run.Started"
    assert "Run.Succeeded" in types


def test_watch_exits_with_the_runs_outcome(live_server, tmp_path: Path) -> None:
    base, server_env = live_server
    env = {**server_env, "PLATINUM_CONFIG_DIR": str(tmp_path / "config")}
    platinum(env, "tenants", "create", "beta", "--name", "Beta", "--admin-email", "bo@beta.io",
             "--admin-password", PASSWORD, "--url", base, "--token", ADMIN_TOKEN)  # fmt: skip
    platinum(env, "login", "--url", base, "--tenant", "beta", "--email", "bo@beta.io",
             "--password", PASSWORD)  # fmt: skip
    definition = tmp_path / "wait.yaml"
    definition.write_text("name: waits\nsteps:\n  - {id: ask, uses: approval, with: {role: admin}}")
    wf = as_json(platinum(env, "workflows", "submit", str(definition), "--activate", "--json"))
    rejected = as_json(platinum(env, "runs", "start", wf["id"], "--json"))["id"]
    platinum(env, "runs", "reject", rejected, "ask", "--comment", "no")
    assert platinum(env, "runs", "watch", rejected, ok=False).returncode == 1
    cancelled = as_json(platinum(env, "runs", "start", wf["id"], "--json"))["id"]
    platinum(env, "runs", "cancel", cancelled, "--reason", "changed my mind")
    assert platinum(env, "runs", "watch", cancelled, ok=False).returncode == 3
