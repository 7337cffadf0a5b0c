"""Chaos: a `platinum worker` process paused (SIGSTOP) past its lease, then resumed.

A paused process cannot tell it was paused: when it resumes, its threads carry on where they
stood. Three pauses, each with a single-step run and a second worker (in this process) that
takes the attempt over once the lease has run out:

1. paused in the middle of the call, resumed after the new holder committed;
2. paused in the middle of the call, resumed while the new holder is still executing;
3. paused with a claim in flight (granted while paused), resumed while the new holder executes.

Each time: no call starts after the resume (the local HTTP server records every call with its
Idempotency-Key and time), and the result committed is the new holder's, never the paused
worker's late one. Its own database on the test server: no other worker may claim these runs.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.conftest import create_database, drop_database, make_settings
from tests.integration.engine.support import LocalServer, worker_env
from tests.support.polling import wait_until

pytestmark = pytest.mark.timeout(120)

LEASE_S = 2.0


@pytest.fixture
def fresh(pg_server: Any, tmp_path: Path) -> Iterator[tuple[Any, Any, Any]]:
    from api.composition import application_classes
    from api.database_setup import upgrade
    from engine.steps import egress

    info = create_database(pg_server, "fencing")
    settings = make_settings(info, tmp_path / "data")
    before = egress.default_policy()
    egress.configure(settings.egress_policy())  # in-process workers call a loopback server
    try:
        yield info, settings, upgrade(settings, application_classes())
    finally:
        egress.configure(before)
        drop_database(pg_server, info)


def test_a_paused_worker_neither_calls_nor_commits_after_losing_its_lease(
    fresh: tuple[Any, Any, Any], tmp_path: Path
) -> None:
    from domain.identity.commands import CreateTenant
    from domain.platform import Platform
    from domain.runs.application import StartRun
    from domain.workflows.commands import CreateWorkflow
    from engine.runtime.worker import Worker, WorkerConfig, build_worker
    from engine.scheduling.planner import build_runs

    info, settings, db = fresh
    env_es = db.system.eventsourcing_env(settings)
    platform = Platform(env=env_es)
    tenant = platform.create_tenant(
        CreateTenant(name="Pause", slug=f"pause-{uuid.uuid4().hex[:8]}")
    ).tenant
    runs = build_runs(env_es, platform=platform)
    env = worker_env(settings, info.conninfo, tmp_path / "data", pool=2, overflow=2)
    paused = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "worker", "--concurrency", "4",
         "--lease-seconds", str(LEASE_S)],
        env=env, stdout=subprocess.DEVNULL, stderr=(tmp_path / "worker.log").open("ab"),
    )  # fmt: skip
    admin = psycopg.connect(info.conninfo, autocommit=True)
    taker: Worker | None = None

    def activity(pattern: str, waiting: bool = False) -> bool:
        row = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND query LIKE %s"
            " AND (NOT %s OR wait_event_type = 'Lock')", (pattern, waiting),
        ).fetchone()  # fmt: skip
        return bool(row and row[0])

    def workflow(url: str) -> tuple[Any, dict[str, Any]]:
        definition = {"name": "pause", "steps": [
            {"id": "k", "uses": "http", "with": {"method": "POST", "url": url}}]}  # fmt: skip
        wf = platform.create_workflow(
            CreateWorkflow(tenant_id=tenant.id, name=f"pause-{uuid.uuid4().hex[:6]}",
                           definition=definition)
        )  # fmt: skip
        return wf.id, definition

    def start(wf: tuple[Any, dict[str, Any]]) -> uuid.UUID:
        run = runs.start_run(StartRun(tenant_id=tenant.id, workflow_id=wf[0], workflow_version=1,
                                      definition=wf[1], input={}, started_by="chaos"))  # fmt: skip
        return run.id  # type: ignore[no-any-return]

    def done(run_id: uuid.UUID) -> Any:
        return wait_until(
            lambda: (r := runs.load(run_id)).is_done and r, 30, message=f"run {run_id}"
        )

    def new_holder() -> Worker:
        config = WorkerConfig(concurrency=4, lease_s=LEASE_S)
        return build_worker(env_es, db.system.conninfo, platform=platform, config=config).start()

    def answer_n(run: Any) -> int:
        return int(run.steps["k"]["output"]["body"]["n"])

    try:
        with LocalServer() as http:
            wait_until(
                lambda: activity("%extract(epoch%"), 60, message="the worker process to claim"
            )
            calls = http.recorder

            # 1. paused mid-call; resumed after the new holder committed
            r1 = start(workflow(http.url(f"/stop?pid={paused.pid}&s=0")))
            key1 = f"{r1}:k:1"
            # now paused by the server
            wait_until(lambda: calls.times(key1), timeout=20, message="the first call")
            taker = new_holder()
            run = done(r1)
            assert run.status == "succeeded"
            assert answer_n(run) == 2  # the new holder's call
            version = run.version
            taker.stop()
            taker = None
            resumed = time.time()
            paused.send_signal(signal.SIGCONT)
            # Not an ordering: an absence cannot be polled. Let the lease run out and the late
            # result reach its committer, which must refuse it.
            time.sleep(LEASE_S + 1.0)
            assert runs.load(r1).version == version  # nothing committed by the paused worker
            assert [t for t in calls.times(key1) if t >= resumed] == []
            assert len(calls.times(key1)) == 2

            # 2. paused mid-call; resumed while the new holder is still executing
            r2 = start(workflow(http.url(f"/stop?pid={paused.pid}&s=3")))
            key2 = f"{r2}:k:1"
            wait_until(lambda: calls.times(key2), timeout=20, message="the first call")
            taker = new_holder()
            wait_until(
                lambda: len(calls.times(key2)) == 2, timeout=20, message="the new holder's call"
            )
            resumed = time.time()
            paused.send_signal(signal.SIGCONT)  # its answer (n=1) is waiting in its socket
            run = done(r2)
            assert run.status == "succeeded"
            assert answer_n(run) == 2, "the paused worker's stale result was committed"
            assert run.steps["k"]["worker_id"] == taker.id
            assert [t for t in calls.times(key2) if t >= resumed] == []
            taker.stop()
            taker = None

            # 3. a claim granted while paused; resumed while the new holder executes
            wf3 = workflow(http.url("/slow?s=2"))
            paused.send_signal(signal.SIGSTOP)
            r3 = start(wf3)
            key3 = f"{r3}:k:1"
            with psycopg.connect(info.conninfo) as lock:  # holds the queue until the block ends
                lock.execute("LOCK TABLE run_tasks IN SHARE MODE")
                paused.send_signal(signal.SIGCONT)  # its claimer wakes (NOTIFY) and claims
                wait_until(lambda: activity("%WITH cand%", waiting=True), timeout=20,
                           message="the claim to wait")  # fmt: skip
                paused.send_signal(signal.SIGSTOP)
            # the claim went through with the worker paused: the lease is its, then runs out
            wait_until(lambda: admin.execute(
                "SELECT worker_id FROM run_tasks WHERE run_id = %s", (r3,)).fetchone()[0],
                timeout=20, message="the paused worker's lease")  # fmt: skip
            time.sleep(LEASE_S + 0.3)  # the paused worker's lease must expire (the point here)
            taker = new_holder()
            wait_until(lambda: calls.times(key3), timeout=20, message="the new holder's call")
            resumed = time.time()
            paused.send_signal(signal.SIGCONT)
            run = done(r3)
            assert run.status == "succeeded"
            assert run.steps["k"]["worker_id"] == taker.id
            time.sleep(1.0)  # an absence cannot be polled: the window for a late call
            assert [t for t in calls.times(key3) if t >= resumed] == [], (
                "the paused worker called after its lease was lost"
            )
            assert len(calls.times(key3)) == 1
            assert paused.poll() is None  # and it is still alive
    finally:
        if taker is not None:
            taker.stop()
        paused.send_signal(signal.SIGCONT)
        paused.kill()
        paused.wait()
        admin.close()
        runs.close()
        platform.close()
