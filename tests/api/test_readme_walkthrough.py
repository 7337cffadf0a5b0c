"""The README's "Walkthrough with curl", run verbatim against a live ``platinum serve``."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.polling import wait_until

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")


def walkthrough() -> str:
    """The first ``sh`` block under the README's "Walkthrough with curl" heading."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Walkthrough with curl", 1)[1]
    match = re.search(r"```sh\n(.*?)```", section, re.S)
    assert match, "the README walkthrough has no sh block"
    return match.group(1)


def test_readme_walkthrough_runs_as_written(live_server) -> None:  # type: ignore[no-untyped-def]
    base, env = live_server
    script = "set -euo pipefail\n" + walkthrough() + '\necho\necho "WALKTHROUGH $TOKEN $RUN"\n'
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=ROOT,
        env={**env, "PLATINUM": base},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    token, run_id = done.stdout.strip().splitlines()[-1].split()[1:]
    # the history printed last starts with the run's first event
    assert '"Run.Started"' in done.stdout
    headers = {"Authorization": f"Bearer {token}"}

    # the worker finishes the run after the approval (ship, tell, each_line)
    run: dict[str, Any] = wait_until(
        lambda: httpx.get(f"{base}/v1/runs/{run_id}", headers=headers).json(),
        30,
        until=lambda run: run["status"] in ("succeeded", "failed", "cancelled"),
        message=f"run {run_id} to finish",
    )
    assert run["status"] == "succeeded", json.dumps(run, indent=2)
    steps = {s["id"]: s for s in run["steps"]}
    assert steps["approve"]["output"]["comment"] == "fine by me"
    assert steps["small"]["status"] == "skipped"
    assert [i["output"]["sku"] for i in steps["each_line"]["items"]] == ["X1", "Y2"]
    assert run["output"] == {"shipped": True}
