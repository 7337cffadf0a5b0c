"""Runs: completed runs/s and start-to-finish latency through real worker processes.

Workloads (every step calls the python skill ``skill:echo``, installed from the marketplace):

* ``chain``: 10 steps in a line;
* ``dag``: one step, two parallel branches of 4, one join; one branch's head has an ``if``
  (true: every step runs);
* ``foreach``: one step over 100 items.

``workers`` processes of ``platinum worker`` (concurrency 8 each) execute them. The bench process
plays the API: it starts runs with ``Runs.start_run`` (the engine's planner, task recorder) from
``IN_FLIGHT`` client threads, each starting its next run when its last one finished (closed loop).
Start = the wall clock before ``start_run``; finish = the timestamp of the run's terminal event
(written by the worker), so polling for completion adds nothing to the latency.

Per step: commits (``pg_stat_database.xact_commit``, minus the bench's own polling queries:
every transaction is at least one round trip), tuples inserted and events appended.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.harness import BenchEnv, Profile, figure, percentile, unavailable, with_ratio

IN_FLIGHT = 8
WORKER_CONCURRENCY = 8
SKILL = "skill:echo"


def availability() -> str | None:
    """None when the runtime can be benchmarked, else why not."""
    for module in ("domain.runs.application", "engine.runtime.task_store",
                   "engine.scheduling.planner", "engine.runtime.worker"):
        if importlib.util.find_spec(module) is None:
            return f"{module} does not exist yet (the engine's runtime has not landed)"
    return None


def _step(sid: str, needs: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    step: dict[str, Any] = {"id": sid, "uses": SKILL, "with": {"n": sid}, **extra}
    if needs:
        step["needs"] = needs
    return step


WORKLOADS: dict[str, dict[str, Any]] = {
    "chain": {
        "steps": 10,
        "input": {},
        "definition": {"name": "bench-chain", "steps": [
            _step(f"s{i}", [f"s{i - 1}"] if i else None) for i in range(10)]},
    },
    "dag": {
        "steps": 10,
        "input": {"go": True},
        "definition": {"name": "bench-dag", "steps": [
            _step("start"),
            _step("a1", ["start"], **{"if": "input.go == true"}),
            _step("a2", ["a1"]), _step("a3", ["a2"]), _step("a4", ["a3"]),
            _step("b1", ["start"]), _step("b2", ["b1"]), _step("b3", ["b2"]),
            _step("b4", ["b3"]),
            _step("join", ["a4", "b4"]),
        ]},
    },
    "foreach": {
        "steps": 100,
        "input": {"items": list(range(100))},
        "definition": {"name": "bench-foreach", "steps": [
            {"id": "each", "uses": SKILL, "foreach": "${{ input.items }}",
             "with": {"item": "${{ item }}"}}]},
    },
}


class Harness:
    """Tenant, skill and workflows set up once; worker processes; a closed-loop starter."""

    def __init__(self, env: BenchEnv, workers: int, skills: bool = True) -> None:
        from eventsourcing.utils import get_topic

        from api.composition import _build_runs, definition_validator
        from domain.platform import Platform
        from domain.runs.run import Run

        self.env = env
        es_env = env.db.system.eventsourcing_env(env.settings)
        self.platform = Platform(env=es_env, definition_validator=definition_validator())
        self.runs = _build_runs(env.db, es_env, self.platform)
        self.terminal = {get_topic(Run.Succeeded), get_topic(Run.Failed),
                         get_topic(Run.Cancelled)}
        self.succeeded = get_topic(Run.Succeeded)
        self.skills = skills
        self._setup()
        self.procs: list[subprocess.Popen[bytes]] = []
        self.set_workers(workers)

    # -- setup

    def _setup(self) -> None:
        from domain.identity.commands import CreateTenant
        from domain.marketplace.commands import InstallSkill, PublishSkill
        from domain.workflows.commands import CreateWorkflow

        p = self.platform
        made = p.create_tenant(CreateTenant(name="Bench runs", slug=f"runs-{uuid.uuid4().hex[:8]}",
                                            admin_email="ada@bench.io",
                                            admin_password="correct horse battery"))
        self.tenant_id, self.user_id = made.tenant.id, made.admin.id
        skill = p.publish_skill(PublishSkill(
            name=f"echo{uuid.uuid4().hex[:6]}", category="utility", description="echo",
            definition={"implementation": {"kind": "python", "entry_point": "echo"}}))
        p.approve_skill(skill.id)
        p.install_skill(InstallSkill(tenant_id=self.tenant_id, skill_id=skill.id))
        self.workflows: dict[str, Any] = {}
        for name, w in WORKLOADS.items():
            definition = _with_skill(w["definition"], skill.name)
            wf = p.create_workflow(CreateWorkflow(tenant_id=self.tenant_id, name=name,
                                                  definition=definition))
            p.activate_workflow(self.tenant_id, wf.id)
            self.workflows[name] = p.get_workflow(self.tenant_id, wf.id)
        # skills are found through the read model: project what we just wrote
        from api.background import build_projection_runners

        runners = build_projection_runners(self.env.settings, self.env.db, names=["readmodel"])
        for runner in runners:
            runner.catch_up()
            runner.app.close()
        # the view's datastore is the process's shared system-role pool (api/persistence.py),
        # which self.platform uses too: it is closed with the harness, not here

    # -- workers

    def set_workers(self, n: int) -> None:
        self.stop_workers()
        platinum = Path(sys.executable).parent / "platinum"
        worker_env = self.env.process_env(os.environ.get("BENCH_WORKER_LOG_LEVEL", "WARNING"))
        for i in range(n):
            log = open(self.env.data_dir / f"worker{i}.log", "ab")  # noqa: SIM115
            self.procs.append(subprocess.Popen(
                [str(platinum), "worker", "--concurrency", str(WORKER_CONCURRENCY)],
                env=worker_env, stdout=log, stderr=log))
        self.workers = n
        time.sleep(2.0)  # imports and connections; the warm-up runs make sure
        for name in WORKLOADS:
            self.sample(name, max(2, n))

    def stop_workers(self) -> None:
        for p in self.procs:
            p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = []

    def close(self) -> None:
        self.stop_workers()
        self.runs.close()
        self.platform.close()

    # -- measuring

    def start(self, name: str) -> tuple[uuid.UUID, datetime]:
        from domain.runs.application import StartRun

        wf = self.workflows[name]
        t0 = datetime.now(UTC)
        run = self.runs.start_run(StartRun(
            tenant_id=self.tenant_id, workflow_id=wf.id, workflow_version=wf.current_version,
            definition=wf.definition, input=WORKLOADS[name]["input"], started_by=self.user_id))
        return run.id, t0

    def sample(self, name: str, count: int, timeout: float = 15.0,
               counters: bool = False, in_flight: int = IN_FLIGHT,
               rate: float | None = None) -> dict[str, Any]:
        """``count`` runs of workload ``name``, IN_FLIGHT at a time; what they took.

        With ``rate`` (runs/s) the starts are open-loop instead: run i starts at
        ``i / rate`` seconds, whatever the earlier runs are doing (``in_flight`` clients
        issue them), which is how a service sees its callers.
        """
        import psycopg
        from eventsourcing.persistence import StoredEvent

        waiters: dict[uuid.UUID, threading.Event] = {}
        finished: dict[uuid.UUID, tuple[datetime, bool]] = {}
        started: dict[uuid.UUID, datetime] = {}
        lock = threading.Lock()
        stop = threading.Event()
        polls = [0]
        with psycopg.connect(self.env.db.owner.conninfo, autocommit=True) as conn:
            last = conn.execute("SELECT coalesce(max(notification_id), 0)"
                                " FROM runs_events").fetchone()[0]  # type: ignore[index]
        if counters:  # backends flush their statistics at most once a second, when idle
            time.sleep(1.2)
        before = self.env.db_stats()
        events_before = last

        def watch() -> None:
            nonlocal last
            with psycopg.connect(self.env.db.owner.conninfo, autocommit=True) as conn:
                while not stop.is_set():
                    rows = conn.execute(
                        "SELECT notification_id, originator_id, originator_version, topic,"
                        " CASE WHEN topic = ANY(%s) THEN state END FROM runs_events"
                        " WHERE notification_id > %s ORDER BY notification_id",
                        (list(self.terminal), last)).fetchall()
                    polls[0] += 1
                    for nid, oid, version, topic, state in rows:
                        last = nid
                        if state is None:
                            continue
                        e = self.runs.mapper.to_domain_event(StoredEvent(
                            originator_id=oid, originator_version=version, topic=topic,
                            state=bytes(state)))
                        with lock:
                            finished[oid] = (e.timestamp, topic == self.succeeded)
                            ev = waiters.get(oid)
                        if ev is not None:
                            ev.set()
                    stop.wait(0.005)

        todo = [count]
        stuck: list[uuid.UUID] = []
        origin = time.monotonic() + 0.05

        def client() -> None:
            while True:
                with lock:
                    if todo[0] <= 0:
                        return
                    todo[0] -= 1
                    index = count - todo[0] - 1
                if rate is not None:
                    time.sleep(max(0.0, origin + index / rate - time.monotonic()))
                ev = threading.Event()
                run_id, t0 = self.start(name)
                with lock:
                    waiters[run_id] = ev
                    started[run_id] = t0
                    if run_id in finished:
                        ev.set()
                if not ev.wait(timeout):  # counted as stuck; the loop goes on
                    with lock:
                        stuck.append(run_id)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        clients = [threading.Thread(target=client) for _ in range(min(in_flight, count))]
        for c in clients:
            c.start()
        for c in clients:
            c.join()
        time.sleep(0.02)
        stop.set()
        watcher.join()
        if counters:
            time.sleep(1.2)
        after = self.env.db_stats()
        events = last - events_before
        done = [(started[r], finished[r]) for r in started if r in finished]
        if not done:
            return {"runs": 0, "stuck": len(stuck), "failed": 0}
        lat = [(f[0] - s).total_seconds() * 1000 for s, f in done]
        span = (max(f[0] for _, f in done) - min(s for s, _ in done)).total_seconds()
        steps = WORKLOADS[name]["steps"] * len(done)
        return {
            "runs": len(done),
            "stuck": len(stuck),
            "failed": sum(1 for _, f in done if not f[1]),
            "runs_per_s": len(done) / span if span > 0 else 0.0,
            "p50_ms": percentile(lat, 50),
            "p99_ms": percentile(lat, 99),
            "commits_per_step": (after["xact_commit"] - before["xact_commit"] - polls[0] - 2)
            / steps,
            "tuples_inserted_per_step": (after["tup_inserted"] - before["tup_inserted"]) / steps,
            "events_per_step": events / steps,
        }

    def measure(self, name: str, count: int, repeats: int, in_flight: int = IN_FLIGHT,
                alone: bool = True) -> dict[str, Any]:
        steps = WORKLOADS[name]["steps"]
        # the first sample also reads the database's counters (it waits for their flush)
        all_samples = [self.sample(name, count, counters=i == 0, in_flight=in_flight)
                       for i in range(repeats)]
        samples = [s for s in all_samples if s["runs"]]
        stuck = sum(s["stuck"] for s in all_samples)
        if not samples:
            return {"status": "failed", "reason": f"no run finished ({stuck} stuck > 15 s)"}
        counted = all_samples[0] if all_samples[0]["runs"] else samples[0]
        out = {
            "runs_per_s": figure([s["runs_per_s"] for s in samples], "runs/s"),
            "steps_per_s": figure([s["runs_per_s"] * steps for s in samples], "steps/s"),
            "p50_ms": figure([s["p50_ms"] for s in samples], "ms"),
            "p99_ms": figure([s["p99_ms"] for s in samples], "ms"),
            "per_step_ms": figure([s["p50_ms"] / steps for s in samples], "ms"),
            "events_per_step": figure([s["events_per_step"] for s in samples], "events"),
            "commits_per_step": round(counted["commits_per_step"], 2),
            "tuples_inserted_per_step": round(counted["tuples_inserted_per_step"], 2),
            "runs": sum(s["runs"] for s in samples),
            "failed_runs": sum(s["failed"] for s in samples),
            "stuck_runs": stuck,
            "in_flight": in_flight,
        }
        if not alone:
            return out
        # unloaded latency: one run at a time (the closed loop above keeps IN_FLIGHT going)
        alone = [self.sample(name, max(2, count // 5), in_flight=1) for _ in range(3)]
        alone = [s for s in alone if s["runs"]]
        if alone:
            out["alone_p50_ms"] = figure([s["p50_ms"] for s in alone], "ms", in_flight=1)
            out["alone_p99_ms"] = figure([s["p99_ms"] for s in alone], "ms", in_flight=1)
        if stuck:
            out["warning"] = (f"{stuck} runs did not finish within 15 s (their tasks stayed"
                              " leased): throughput and latency count finished runs only")
        return out

    def measure_at_rate(self, name: str, rate: float, count: int, repeats: int) -> dict[str, Any]:
        """Open loop: ``rate`` runs/s offered; the latency a caller sees at that load."""
        samples = [self.sample(name, count, in_flight=32, rate=rate) for _ in range(repeats)]
        samples = [s for s in samples if s["runs"]]
        if not samples:
            return {"status": "failed", "reason": "no run finished"}
        return {
            "offered_runs_per_s": rate,
            "runs_per_s": figure([s["runs_per_s"] for s in samples], "runs/s"),
            "p50_ms": figure([s["p50_ms"] for s in samples], "ms"),
            "p99_ms": figure([s["p99_ms"] for s in samples], "ms"),
            "runs": sum(s["runs"] for s in samples),
            "failed_runs": sum(s["failed"] for s in samples),
            "stuck_runs": sum(s["stuck"] for s in samples),
        }

    def template_run_events(self) -> list[tuple[int, str, bytes]]:
        """A finished chain run's stored events: the history seeded by the scaling section."""
        from bench import seeding

        run_id, _ = self.start("chain")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                if self.runs.load(run_id).status == "succeeded":
                    break
            time.sleep(0.05)
        return seeding.stored_template(self.env.db.owner.conninfo, "runs_events", run_id)


def _both(res: dict[str, Any]) -> bool:
    """Both DAG targets met by one measurement (its medians)."""
    if "runs_per_s" not in res:
        return False
    return bool(res["runs_per_s"]["median"] >= 60 and res["p50_ms"]["median"] < 60)


def _with_skill(definition: dict[str, Any], skill_name: str) -> dict[str, Any]:
    import json

    return json.loads(json.dumps(definition).replace(f'"{SKILL}"', f'"skill:{skill_name}"'))


def run(env: BenchEnv, profile: Profile) -> dict[str, Any]:
    reason = availability()
    if reason:
        return unavailable(reason)
    out: dict[str, Any] = {
        "steps_use": "python skill via the marketplace (entry point `echo`), one per step",
        "in_flight": IN_FLIGHT,
        "worker_concurrency": WORKER_CONCURRENCY,
        "peer": {"dbos_dag_runs_per_s": 29, "dbos_dag_p50_ms": 63},
    }
    harness = Harness(env, workers=1)
    try:
        for workers in (1, 3):
            if harness.workers != workers:
                harness.set_workers(workers)
            res: dict[str, Any] = {}
            for name in WORKLOADS:
                count = profile.run_count if name != "foreach" else max(2, profile.run_count // 10)
                res[name] = harness.measure(name, count, profile.repeats)
            if workers == 3:
                # both targets at one operating point of the closed loop: fewer runs in flight
                res["dag_in_flight_4"] = harness.measure(
                    "dag", profile.run_count, profile.repeats, in_flight=4, alone=False
                )
                # the target's own terms: 60 runs/s of DAG (b) offered to 3 workers
                res["dag_at_60_per_s"] = harness.measure_at_rate(
                    "dag", 60.0, profile.run_count, profile.repeats
                )
            out[f"workers_{workers}"] = res
        for name in WORKLOADS:
            base = out["workers_1"][name]
            if "runs_per_s" not in base or "runs_per_s" not in out["workers_3"][name]:
                continue
            for key in ("runs_per_s", "p50_ms", "alone_p50_ms"):
                if key not in base or key not in out["workers_3"][name]:
                    continue
                with_ratio(out["workers_3"][name][key], base[key], "1 worker process")
                with_ratio(base[key], base[key], "1 worker process")
        dag = out["workers_3"]["dag"]
        if "runs_per_s" not in dag:
            return out
        out["targets"] = {
            "dag_3_workers_runs_per_s>=60": dag["runs_per_s"]["median"] >= 60,
            "dag_3_workers_p50_ms<60 (8 in flight)": dag["p50_ms"]["median"] < 60,
            "dag_3_workers_>=60_runs_per_s_and_p50_ms<60 (4 in flight)": _both(
                out["workers_3"].get("dag_in_flight_4", {})),
            "dag_3_workers_p50_ms<60 (1 in flight)": dag.get("alone_p50_ms", {}).get(
                "median", float("inf")) < 60,
            "dag_3_workers_p50_ms<60 (60 runs/s offered)": out["workers_3"]
            .get("dag_at_60_per_s", {}).get("p50_ms", {}).get("median", float("inf")) < 60,
        }
    finally:
        harness.close()
    return out
