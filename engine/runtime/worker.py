"""Workers: wire the claimer, executors, committer and heartbeat of one process, and supervise them.

Threads of one worker (one module each):
- *claimer* (``engine.runtime.claimer``): leases ready rows of the queue for this worker;
- *executors* (``engine.runtime.executor``, ``concurrency`` threads): run step kinds; steps of
  one run run in parallel;
- *committer* (``engine.runtime.committer`` with ``engine.runtime.batch``): the only thread that
  touches runs; it applies claims and results, advances the runs and saves a whole batch in ONE
  transaction with its task changes; the next steps it can run are inserted already leased to
  this worker and dispatched at once (no claim round trip);
- *heartbeat* (``engine.runtime.heartbeat``): renews the leases held; a dead worker's leases
  expire and another worker runs the same attempt again (same attempt number, same
  idempotency key, a larger fencing token).

Fencing (docs/engine.md, "Leases and fencing"): every lease carries a token; an executor starts
an attempt only while its lease is certainly held (``engine.runtime.leases``); a save commits a
result (or an attempt's start) only if the row still holds that attempt under that token,
checked in the save's transaction.

Supervision: each loop survives errors it did not expect (restarted in place, with back-off);
``liveness()`` says when each loop last went round.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from tenacity import RetryCallState

from domain.kernel.clock import utc_now
from domain.kernel.retrying import failure, until_stopped
from domain.runs.application import Runs
from engine.runtime.batch import BatchSaver
from engine.runtime.claimer import Claimer
from engine.runtime.committer import Committer
from engine.runtime.config import Counters, WorkerConfig
from engine.runtime.executor import Executor, Message, StepObserver
from engine.runtime.heartbeat import Heartbeat
from engine.runtime.leases import Leases
from engine.runtime.ports import DB_ERRORS, TaskQueue
from engine.runtime.run_cache import RunCache
from engine.runtime.tracing import Tracing
from engine.scheduling.planner import EnginePlanner
from engine.steps import KindContext
from engine.steps import registry as kind_registry
from engine.steps.skills import SkillCatalog
from engine.steps.subworkflow import WorkflowCatalog

log = logging.getLogger(__name__)

__all__ = ["Worker", "WorkerConfig", "build_worker"]


class Worker:
    """An embeddable worker: ``start()``, ``stop()``, ``stats()``, ``liveness()``."""

    def __init__(
        self,
        runs: Runs,
        planner: EnginePlanner,
        tasks: TaskQueue,
        *,
        config: WorkerConfig | None = None,
        ctx: KindContext | None = None,
        clock: Callable[[], datetime] = utc_now,
        observe: StepObserver | None = None,
        on_stop: Callable[[], None] | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self.runs = runs
        self.planner = planner
        self.tasks = tasks
        self.config = config or WorkerConfig()
        self.id = self.config.worker_id
        self.counters = Counters()
        self.leases = Leases(self.config)
        self.inbox: queue.Queue[Message] = queue.Queue()
        self._stopping = threading.Event()  # no more claims
        self._done = threading.Event()  # every loop ends
        self.executor = Executor(
            kind_registry(), ctx or KindContext(), self.leases, self.inbox, self.counters,
            concurrency=self.config.concurrency, worker_id=self.id, observe=observe,
            tracer=tracing.tracer if tracing is not None else None,
        )  # fmt: skip
        self.cache = RunCache(runs, self.counters)
        batches = BatchSaver(runs, planner, self.config, self.cache, self.leases, self.counters,
                             self.executor.dispatch, self._stopping, clock)  # fmt: skip
        self.committer = Committer(self.config, batches, tasks, self.cache, self.leases,
                                   self.inbox, self.counters, self._done,
                                   lambda: self._beat("commit"))  # fmt: skip
        self.claimer = Claimer(self.config, tasks, self.leases, self.inbox, self.counters,
                               self._stopping, lambda: self._beat("claim"))  # fmt: skip
        self.heartbeat = Heartbeat(self.config, tasks, self.leases, self.counters, self._done,
                                   lambda: self._beat("heartbeat"), self._watch)  # fmt: skip
        self._loops: dict[str, Callable[[], None]] = {
            "commit": self.committer.loop, "claim": self.claimer.loop,
            "heartbeat": self.heartbeat.loop,
        }  # fmt: skip
        self._threads: dict[str, threading.Thread] = {}
        self._beats: dict[str, float] = {}  # loop -> time.monotonic() it last went round
        self._watch_lock = threading.Lock()
        self._on_stop = on_stop

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Worker:
        for name in self._loops:
            self._start_loop(name)
        log.info("worker %s started (concurrency %d)", self.id, self.config.concurrency)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop claiming, let running attempts finish and be saved, give back the rest."""
        self._stopping.set()
        self.leases.capacity.set()
        deadline = time.monotonic() + timeout
        while self.held() and time.monotonic() < deadline:
            time.sleep(0.02)
        self._done.set()
        for t in list(self._threads.values()):
            t.join(timeout=max(0.1, deadline - time.monotonic()))
        self.executor.shutdown()
        left = list(self.leases.held)
        if left:
            with contextlib.suppress(*DB_ERRORS):
                self.tasks.release(self.id, left)
        if self._on_stop is not None:
            self._on_stop()
        log.info(
            "worker %s stopped: %s",
            self.id,
            " ".join(f"{k}={v:g}" for k, v in self.stats().items()),
        )

    def stats(self) -> dict[str, float]:
        out = self.counters.snapshot()
        out["held"] = len(self.leases.held)
        out["parked_runs"] = len(self.committer.parked)
        return out

    def held(self) -> int:
        return len(self.leases)

    # ------------------------------------------------------------------ supervision

    def _start_loop(self, name: str) -> None:
        self._beats[name] = time.monotonic()
        t = threading.Thread(target=self._supervised, args=(name,), name=f"worker-{name}",
                             daemon=True)  # fmt: skip
        self._threads[name] = t
        t.start()

    def _supervised(self, name: str) -> None:
        """Run a loop; an error it did not expect restarts it (after a back-off), never ends it.
        The loop returns only when the worker stops."""

        def restarting(retry_state: RetryCallState) -> None:
            self.counters.add("loop_restarts")
            log.error("worker %s: %s loop failed; restarting it", self.id, name,
                      exc_info=failure(retry_state))  # fmt: skip

        until_stopped(self._done, first_s=0.1, max_s=5.0, on_retry=restarting)(self._loops[name])

    def _watch(self) -> None:
        """Start again any loop thread that died anyway (called by the heartbeat and probes)."""
        if self._stopping.is_set():
            return
        with self._watch_lock:
            for name, t in list(self._threads.items()):
                if not t.is_alive() and not self._stopping.is_set():
                    log.error("worker %s: %s thread died; starting it again", self.id, name)
                    self.counters.add("loop_restarts")
                    self._start_loop(name)

    def _beat(self, name: str) -> None:
        self._beats[name] = time.monotonic()

    def liveness(self) -> dict[str, Any]:
        """Per loop: seconds since it last went round, whether that is recent enough, and
        whether its thread is alive; plus the runs parked (could not be failed visibly)."""
        self._watch()
        now = time.monotonic()
        limits = {"claim": 2 * self.config.idle_s + 10.0, "commit": 30.0,
                  "heartbeat": 2 * self.config.lease_s / 3 + 10.0}  # fmt: skip
        loops: dict[str, Any] = {}
        for name in self._loops:
            age = now - self._beats.get(name, 0.0)
            t = self._threads.get(name)
            alive = t is not None and t.is_alive()
            loops[name] = {"last_beat_s": round(age, 3), "alive": alive,
                           "ok": alive and age <= limits[name]}  # fmt: skip
        return {"worker_id": self.id, "ok": all(v["ok"] for v in loops.values()),
                "loops": loops, "parked_runs": len(self.committer.parked)}  # fmt: skip


# ---------------------------------------------------------------------------- composition


def build_worker(
    es_env: dict[str, str],
    conninfo: str,
    *,
    platform: Any = None,
    config: WorkerConfig | None = None,
    inline_kinds: Any = None,
    skill_catalog: SkillCatalog | None = None,
    observe: StepObserver | None = None,
    workflow_catalog: WorkflowCatalog | None = None,
    tracing: Tracing | None = None,
) -> Worker:
    """A worker with its own Runs application (task recorder), queue and HTTP client.

    ``es_env`` is the eventsourcing environment of the role the worker uses (platinum_system);
    ``platform`` (a ``domain.platform.Platform``) serves definitions, notify and skills (found
    through ``skill_catalog``, the read model's port); ``workflow_catalog`` (the read model's
    port too) finds the workflows of ``workflow:`` steps; ``observe`` is told each attempt's
    duration (the composition root passes the metric's); ``tracing`` (None: off) makes a span
    of each attempt and instruments the worker's HTTP client.
    """
    from engine.runtime.task_store import PgTaskQueue, runs_env
    from engine.scheduling.planner import platform_planner
    from engine.steps import PURE_KINDS
    from engine.steps.http import client

    planner = platform_planner(
        platform, skill_catalog, inline_kinds=PURE_KINDS if inline_kinds is None else inline_kinds
    )
    runs = Runs(env=runs_env(es_env), planner=planner)
    tasks = PgTaskQueue(conninfo, getattr(runs.recorder, "datastore", None))
    http = client(wrap=tracing.wrap_transport if tracing is not None else None)
    ctx = KindContext(platform=platform, http=http, skills=planner.skills,
                      workflows=workflow_catalog)  # fmt: skip

    def close() -> None:
        http.close()
        runs.close()

    return Worker(runs, planner, tasks, config=config, ctx=ctx, observe=observe, on_stop=close,
                  tracing=tracing)  # fmt: skip
