"""The README's shell blocks, each run verbatim twice in a row against a live ``platinum serve``."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")


def blocks() -> list[str]:
    """Every ``sh`` block of the README but the first (``make run`` and ``make test``)."""
    readme = (ROOT / "README.md").read_text()
    found = re.findall(r"^```sh\n(.*?)^```", readme, re.S | re.M)
    assert found[0].startswith("make run"), "the README's first block is its two commands"
    return found[1:]


def checkout(tmp_path: Path) -> Path:
    """Where the blocks run: like the checkout's root, a ``.venv/bin/platinum`` (this one's CLI)."""
    where = tmp_path / "checkout"
    (where / ".venv" / "bin").mkdir(parents=True)
    cli = where / ".venv" / "bin" / "platinum"
    cli.write_text(f'#!/bin/sh\nPYTHONPATH={ROOT} exec {sys.executable} -m api.cli "$@"\n')
    cli.chmod(0o755)
    return where


def test_every_readme_block_runs_twice_as_written(live_server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    base, env = live_server
    found = blocks()
    assert len(found) >= 2, "the first request and the walkthrough"
    # a user pastes each block into one shell, then the same block again
    done_marker = "\necho '>>> block done'\n"
    script = "set -euo pipefail\n" + "".join(b + done_marker for b in found for _ in (1, 2))
    script += 'echo "WALKTHROUGH $TOKEN $RUN"\n'
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=checkout(tmp_path),
        env={**env, "PLATINUM": base},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert done.stdout.count(">>> block done") == 2 * len(found)
    assert done.stderr == "", done.stderr
    token, run_id = done.stdout.strip().splitlines()[-1].split()[1:]
    out = done.stdout
    # the first request: the tenant made once, its admin logged in each time
    assert out.count('"slug": "acme"') == 1 + 2, out
    # the walkthrough: one workflow, activated once, and a run per pass that the worker finished
    assert out.count("\nactive\n") == 1, out
    assert out.count("succeeded {'shipped': True}") == 2, out
    assert out.count("Run.Started") == 2, out
    headers = {"Authorization": f"Bearer {token}"}
    listed = httpx.get(f"{base}/v1/workflows", headers=headers).json()["items"]
    assert [w["name"] for w in listed] == ["order-approval"]

    run: dict[str, Any] = httpx.get(f"{base}/v1/runs/{run_id}", headers=headers).json()
    assert run["status"] == "succeeded", json.dumps(run, indent=2)
    steps = {s["id"]: s for s in run["steps"]}
    assert steps["approve"]["output"]["comment"] == "fine by me"
    assert steps["small"]["status"] == "skipped"
    assert [i["output"]["sku"] for i in steps["each_line"]["items"]] == ["X1", "Y2"]
    assert run["output"] == {"shipped": True}
