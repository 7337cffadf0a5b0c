"""The benchmark harness works end to end (tiny counts). A benchmark is never a timed test:
this checks the shape of what it writes, not how fast anything was."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

ROOT = Path(__file__).resolve().parents[2]


def is_figure(fig: dict) -> bool:
    return {"median", "min", "max", "p25", "p75", "n", "unit", "samples"} <= fig.keys()


def test_bench_writes_figures_with_spread_and_ratios(tmp_path: Path) -> None:
    # a fresh database on the test server when one is given, else the bench's own embedded one
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    if os.environ.get("PLATINUM_TEST_DATABASE_URL"):
        env["DATABASE_URL"] = os.environ["PLATINUM_TEST_DATABASE_URL"]
    subprocess.run(
        [sys.executable, "-m", "bench", "--profile", "tiny", "--sections", "ceiling,append",
         "--out", str(tmp_path)],
        cwd=ROOT, env=env, check=True, timeout=80, capture_output=True, text=True,
    )

    results = json.loads((tmp_path / "latest.json").read_text())
    assert {"machine", "profile", "sections"} <= results.keys()
    assert set(results["sections"]) == {"ceiling", "append"}
    ceiling = results["sections"]["ceiling"]["python_threads"]
    assert set(ceiling) == {"1conn_1rows_per_tx", "1conn_10rows_per_tx", "8conn_1rows_per_tx",
                            "8conn_10rows_per_tx"}
    for fig in ceiling.values():
        assert is_figure(fig)
        assert fig["n"] == 3
        assert fig["min"] <= fig["median"] <= fig["max"]
        assert fig["baseline"]
        assert fig["ratio"] > 0
    append = results["sections"]["append"]
    for batch in ("batch_1", "batch_10"):
        for app in ("raw", "raw_cipher", "platform"):
            fig = append[batch][app]["events_per_s"]
            assert is_figure(fig)
            assert fig["baseline"] == "raw eventsourcing app"
    assert (tmp_path / "overview.png").stat().st_size > 0


def test_a_missing_component_is_reported_unavailable_not_measured() -> None:
    from bench.harness import figure, unavailable, with_ratio

    fig = with_ratio(figure([1.0, 3.0, 2.0], "x/s"), figure([2.0], "x/s"), "base")
    assert fig["median"] == 2.0
    assert fig["ratio"] == 1.0
    assert unavailable("not there") == {"status": "unavailable", "reason": "not there"}
