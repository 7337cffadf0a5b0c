"""Workers: claim ready attempts, execute them, record results and the runs' next steps.

Threads of one worker:
- *claimer*: ``LISTEN platinum_run_tasks``; leases ready rows (``FOR UPDATE SKIP LOCKED``, fair
  across tenants, capped per tenant); sleeps until a notification or the next due time (timers,
  retry back-off, expired leases): no busy polling.
- *executors* (``concurrency`` threads): run step kinds; steps of one run run in parallel.
- *committer*: the only thread that touches runs. It takes whatever claims and results are
  waiting, applies them, advances each run (scheduler + inline pure kinds), and saves ALL the
  runs of the batch in ONE transaction with their task changes; the next steps it can run are
  inserted already leased to this worker and dispatched at once (no claim round trip).
- *heartbeat*: renews the leases held; a dead worker's leases expire and another worker runs
  the same attempt again (same attempt number, same idempotency key, a larger fencing token).

Fencing (docs/engine.md, "Leases and fencing"): every lease carries a token; an executor starts
an attempt only while its lease is certainly held (``lease_s`` minus a safety margin on this
process's monotonic clock, since the claim or the last renewal); a save commits a result (or an
attempt's start) only if the row still holds that attempt under that token, checked in the
save's transaction.

Supervision: each loop survives errors it did not expect (restarted in place, with back-off);
a batch that fails unexpectedly is retried run by run, and a run that fails alone is failed
visibly (its step with kind ``internal``) instead of stopping the worker. ``liveness()`` says
when each loop last went round.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import secrets
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import IntegrityError, PersistenceError

from domain.kernel.clock import utc_now
from domain.kernel.errors import NotFoundError
from domain.runs.application import Runs, RunTask, TaskKey, run_tasks, task_changes
from domain.runs.run import Run, RunStateError, StepStatus
from engine.runtime import task_store as q
from engine.scheduling.planner import EnginePlanner, apply_outcome
from engine.steps import Failed, KindContext, Outcome, StepCall
from engine.steps import registry as kind_registry
from engine.steps.skills import SkillCatalog, run_skill

log = logging.getLogger(__name__)

MAX_HELD_FACTOR = 4
"""Leases held (executing, or done and waiting for the committer) at most per unit of
``concurrency``."""


def _default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass
class WorkerConfig:
    """Tuning of one worker process (see docs/engine.md, Runtime)."""

    concurrency: int = 8
    lease_s: float = 30.0
    tenant_cap: int = 64  # leased attempts per tenant, across all workers
    max_batch: int = 128  # messages the committer folds into one save
    max_claims: int = 5  # leases of one attempt lost to dead workers before it fails
    idle_s: float = 5.0  # longest sleep without a notification
    lease_margin_s: float | None = None  # safety margin on leases; None: lease_s / 10
    worker_id: str = field(default_factory=_default_worker_id)

    @property
    def margin_s(self) -> float:
        return self.lease_s / 10 if self.lease_margin_s is None else self.lease_margin_s


@dataclass
class _Lease:
    """A lease this worker holds: the attempt, its fencing token, and the monotonic time after
    which the lease may be gone (the database's expiry minus the safety margin)."""

    attempt: int
    token: int
    deadline: float
    lost: bool = False


@dataclass(frozen=True)
class _Result:
    call: StepCall
    outcome: Outcome
    token: int | None

    @property
    def key(self) -> TaskKey:
        return self.call.key

    @property
    def run_id(self) -> UUID:
        return self.call.run_id

    @property
    def attempt(self) -> int:
        return self.call.attempt


_Message = q.Claimed | _Result


@dataclass
class _Batch:
    """What a batch's messages ask of its save, besides the runs' own task changes."""

    dispatch: dict[TaskKey, int] = field(default_factory=dict)  # claimed attempt -> token
    started: set[TaskKey] = field(default_factory=set)  # attempts started by this save
    extra_done: list[RunTask] = field(default_factory=list)  # rows that outlived their attempt
    timers: list[q.Claimed] = field(default_factory=list)
    fences: list[q.Fence] = field(default_factory=list)  # leases the commit depends on


@dataclass
class _Work:
    run: Run
    before: dict[TaskKey, RunTask]
    now: datetime
    cached: bool = False
    dirty: bool = False


class Counters:
    """Monotonic counters (thread-safe), for benchmarks and /metrics."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.values: dict[str, int] = dict.fromkeys(
            ("steps_executed", "saves", "events_saved", "runs_saved", "conflicts", "claimed",
             "self_claimed", "timers_fired", "stale", "db_errors", "lease_expired",
             "claim_queries", "empty_claims", "loads", "loaded_versions", "refreshes",
             "fenced", "leases_lost", "dropped_before_start", "internal_errors",
             "quarantined", "parked", "loop_restarts"), 0,
        )  # fmt: skip

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.values[name] = self.values.get(name, 0) + n

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            out: dict[str, float] = dict(self.values)
        saved = out["saves"] or 1
        out["events_per_save"] = out["events_saved"] / saved
        out["events_per_step"] = out["events_saved"] / (out["steps_executed"] or 1)
        return out


class Worker:
    """An embeddable worker: ``start()``, ``stop()``, ``stats()``."""

    def __init__(
        self,
        runs: Runs,
        planner: EnginePlanner,
        conninfo: str,
        *,
        config: WorkerConfig | None = None,
        ctx: KindContext | None = None,
        clock: Callable[[], datetime] = utc_now,
        on_stop: Callable[[], None] | None = None,
    ) -> None:
        self.runs = runs
        self.planner = planner
        self.conninfo = conninfo
        self.config = config or WorkerConfig()
        self.ctx = ctx or KindContext()
        self.clock = clock
        self.counters = Counters()
        self.id = self.config.worker_id
        self._kinds = kind_registry()
        self._inbox: queue.Queue[_Message] = queue.Queue()
        self._held: dict[TaskKey, _Lease] = {}  # leases held (heartbeat renews them)
        self._busy: set[TaskKey] = set()  # held and not executed yet (counts to concurrency)
        self._held_lock = threading.Lock()
        self._capacity = threading.Event()
        self._stopping = threading.Event()
        self._done = threading.Event()
        self._cache: OrderedDict[UUID, Run] = OrderedDict()
        self._pool = ThreadPoolExecutor(self.config.concurrency, thread_name_prefix="step")
        self._threads: dict[str, threading.Thread] = {}
        self._loops: dict[str, Callable[[], None]] = {
            "commit": self._commit_loop, "claim": self._claim_loop,
            "heartbeat": self._heartbeat_loop,
        }  # fmt: skip
        self._beats: dict[str, float] = {}  # loop -> time.monotonic() it last went round
        self._parked: dict[UUID, str] = {}  # runs that could not even be failed: why
        self._early: dict[TaskKey, int] = {}  # claimed attempts dispatched before their save
        self._watch_lock = threading.Lock()
        self._on_stop = on_stop

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Worker:
        for name in self._loops:
            self._start_loop(name)
        log.info("worker %s started (concurrency %d)", self.id, self.config.concurrency)
        return self

    def _start_loop(self, name: str) -> None:
        self._beats[name] = time.monotonic()
        t = threading.Thread(target=self._supervised, args=(name,), name=f"worker-{name}",
                             daemon=True)  # fmt: skip
        self._threads[name] = t
        t.start()

    def _supervised(self, name: str) -> None:
        """Run a loop; an error it did not expect restarts it (after a back-off), never ends it."""
        failures = 0
        while not self._done.is_set():
            try:
                self._loops[name]()
                return  # the loop ends only when the worker stops
            except Exception:
                failures += 1
                self.counters.add("loop_restarts")
                log.exception("worker %s: %s loop failed; restarting it", self.id, name)
                self._done.wait(min(5.0, 0.05 * 2**failures))

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
                "loops": loops, "parked_runs": len(self._parked)}  # fmt: skip

    def stop(self, timeout: float = 10.0) -> None:
        """Stop claiming, let running attempts finish and be saved, give back the rest."""
        self._stopping.set()
        self._capacity.set()
        deadline = time.monotonic() + timeout
        while self.held() and time.monotonic() < deadline:
            time.sleep(0.02)
        self._done.set()
        for t in list(self._threads.values()):
            t.join(timeout=max(0.1, deadline - time.monotonic()))
        self._pool.shutdown(wait=False, cancel_futures=True)
        left = list(self._held)
        if left:
            with contextlib.suppress(psycopg.Error), psycopg.connect(
                self.conninfo, autocommit=True
            ) as conn:
                q.release(conn, self.id, left)
        if self._on_stop is not None:
            self._on_stop()
        log.info("worker %s stopped: %s", self.id,
                 " ".join(f"{k}={v:g}" for k, v in self.stats().items()))

    def stats(self) -> dict[str, float]:
        out = self.counters.snapshot()
        out["held"] = len(self._held)
        out["parked_runs"] = len(self._parked)
        return out

    def held(self) -> int:
        with self._held_lock:
            return len(self._held)

    # ------------------------------------------------------------------ claimer

    def _claim_loop(self) -> None:
        conn: psycopg.Connection[Any] | None = None
        failures = 0
        while not self._stopping.is_set():
            self._beat("claim")
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(self.conninfo, autocommit=True)
                    conn.execute(f"LISTEN {q.CHANNEL}")
                self._claim_once(conn)
                failures = 0
            except Exception as e:  # the database away, or a bug: never the end of the loop
                failures += 1
                if isinstance(e, psycopg.Error):
                    self.counters.add("db_errors")
                    log.warning("worker %s: claimer: %s", self.id, e)
                else:
                    self.counters.add("internal_errors")
                    log.exception("worker %s: claimer", self.id)
                if conn is not None:
                    with contextlib.suppress(psycopg.Error):
                        conn.close()
                conn = None
                self._stopping.wait(min(1.0, 0.1 * 2**failures))  # back within 1 s
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                conn.close()

    def _free(self) -> int:
        """Attempts this worker may still take: ``concurrency`` minus those not executed yet.

        Results waiting for the committer do not count (their lease is still held): a run's
        next steps stay with the worker that has it cached instead of going to another worker
        (whose save would then conflict with ours). The leases held are capped all the same.
        """
        with self._held_lock:
            return min(self.config.concurrency - len(self._busy),
                       MAX_HELD_FACTOR * self.config.concurrency - len(self._held))  # fmt: skip

    def _claim_once(self, conn: psycopg.Connection[Any]) -> None:
        self._capacity.clear()  # before looking: a slot freed after this wakes the wait below
        free = self._free()
        if free <= 0:
            self._capacity.wait(self.config.idle_s)
            return
        sent = time.monotonic()  # the database's lease starts after this: ours ends earlier
        claimed = q.claim(conn, self.id, free, lease_s=self.config.lease_s,
                          tenant_cap=self.config.tenant_cap)  # fmt: skip
        self.counters.add("claim_queries")
        if not claimed:
            self.counters.add("empty_claims")
        if claimed:
            with self._held_lock:
                for c in claimed:
                    self._held[c.key] = _Lease(c.attempt, c.fence, self._deadline(sent))
                    self._busy.add(c.key)
            self.counters.add("claimed", len(claimed))
            for c in claimed:
                self._inbox.put(c)
            if len(claimed) == free:
                return  # maybe more are ready
        due = q.next_due_s(conn)
        if due is None:
            timeout = self.config.idle_s
        elif due <= 0:
            # ready rows we did not get: locked by another claimer or over the tenant cap
            timeout = 0.05 if not claimed else 0.0
        else:
            timeout = min(due, self.config.idle_s)
        if timeout > 0:
            for _ in conn.notifies(timeout=timeout, stop_after=1):
                pass
            for _ in conn.notifies(timeout=0.0):
                pass  # drain what already arrived: one claim answers them all

    # ------------------------------------------------------------------ heartbeat

    def _deadline(self, sent: float) -> float:
        """The monotonic time a lease granted after ``sent`` is certainly held until."""
        return sent + self.config.lease_s - self.config.margin_s

    def _heartbeat_loop(self) -> None:
        conn: psycopg.Connection[Any] | None = None
        interval = self.config.lease_s / 3
        while not self._done.wait(interval):
            self._beat("heartbeat")
            self._watch()
            with self._held_lock:
                leases = {k: v.token for k, v in self._held.items() if not v.lost}
            if not leases:
                continue
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(self.conninfo, autocommit=True)
                sent = time.monotonic()
                renewed = q.heartbeat(conn, self.id, leases, self.config.lease_s)
                self._renewed(leases, renewed, sent)
            except Exception as e:  # the database away, or a bug: never the end of the loop
                if isinstance(e, psycopg.Error):
                    log.warning("worker %s: heartbeat: %s", self.id, e)
                else:
                    self.counters.add("internal_errors")
                    log.exception("worker %s: heartbeat", self.id)
                if conn is not None:
                    with contextlib.suppress(psycopg.Error):
                        conn.close()
                conn = None
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                conn.close()

    def _renewed(self, leases: dict[TaskKey, int], renewed: set[TaskKey], sent: float) -> None:
        """Extend the leases the heartbeat renewed; mark the others lost (claimed again by
        another worker, or gone): their attempts will not start here, their results not save."""
        deadline = self._deadline(sent)
        lost = 0
        with self._held_lock:
            for key, token in leases.items():
                lease = self._held.get(key)
                if lease is None or lease.token != token:
                    continue  # replaced meanwhile (a new attempt leased to us)
                if key in renewed:
                    lease.deadline = max(lease.deadline, deadline)
                else:
                    lease.lost, lease.deadline = True, float("-inf")
                    lost += 1
        if lost:
            self.counters.add("leases_lost", lost)
            log.warning("worker %s: %d leases lost (claimed again elsewhere)", self.id, lost)

    # ------------------------------------------------------------------ executors

    def _dispatch(self, call: StepCall, token: int) -> None:
        self._pool.submit(self._execute, call, token)

    def _execute(self, call: StepCall, token: int) -> None:
        try:
            outcome = self._run_kind(call, token)
        except Exception as e:
            log.exception("step %s crashed", call.idempotency_key)
            outcome = Failed("error", f"{type(e).__name__}: {e}", True)
        with self._held_lock:  # before the committer may lease the same key again (a retry)
            self._busy.discard(call.key)
        if outcome is not None:
            self.counters.add("steps_executed")
            self._inbox.put(_Result(call, outcome, token))
        self._capacity.set()

    def _still_held(self, call: StepCall, token: int) -> bool:
        """Whether the lease is certainly still ours; if not, the attempt is dropped (its row
        is claimable by now, or already claimed again: another worker will run it)."""
        with self._held_lock:
            lease = self._held.get(call.key)
            if lease is not None and lease.token == token and time.monotonic() < lease.deadline:
                return True
            if lease is not None and lease.token == token:
                del self._held[call.key]
        self.counters.add("dropped_before_start")
        log.warning("worker %s: lease of %s (token %d) ran out before it started: dropped",
                    self.id, call.idempotency_key, token)  # fmt: skip
        return False

    def _run_kind(self, call: StepCall, token: int) -> Outcome | None:
        if not self._still_held(call, token):  # immediately before the side effect
            return None
        if call.uses.startswith("skill:"):
            return _with_deadline(lambda: run_skill(call, self.ctx), call.timeout_s)
        kind = self._kinds.get(call.uses)
        if kind is None:
            return Failed("unknown_kind", f"no step kind {call.uses!r} in this worker", False)
        return kind(call, self.ctx)

    # ------------------------------------------------------------------ committer

    def _commit_loop(self) -> None:
        while not self._done.is_set():
            self._beat("commit")
            try:
                first = self._inbox.get(timeout=0.2)
            except queue.Empty:
                continue
            msgs: list[_Message] = [first]
            while len(msgs) < self.config.max_batch:
                try:
                    msgs.append(self._inbox.get_nowait())
                except queue.Empty:
                    break
            self._handle(msgs)

    def _handle(self, msgs: list[_Message]) -> None:
        """Save a batch. An error nobody expected (a bug, one run's bad data) is retried run by
        run, and a run that still fails alone is quarantined: the others go on."""
        try:
            self._handle_fenced(msgs)
            return
        except Exception:
            self.counters.add("internal_errors")
            log.exception("worker %s: a batch of %d messages failed; retrying run by run",
                          self.id, len(msgs))  # fmt: skip
        groups: dict[UUID, list[_Message]] = {}
        for m in msgs:
            groups.setdefault(m.run_id, []).append(m)
        for run_id, group in groups.items():
            self._cache.pop(run_id, None)
            try:
                self._handle_fenced(group)
            except Exception as e:
                self._quarantine(run_id, group, e)

    def _handle_fenced(self, msgs: list[_Message]) -> None:
        """Save a batch; if it carried a lease lost meanwhile, drop those messages and redo."""
        for _ in range(3):
            try:
                self._handle_db(msgs)
                return
            except q.FencedError as e:
                self.counters.add("fenced")
                log.warning("worker %s: %s", self.id, e)
                msgs = self._drop_fenced(msgs)
                if not msgs:
                    return
        self._handle_db(msgs)

    def _handle_db(self, msgs: list[_Message]) -> None:
        try:
            self._process(msgs)
            return
        except IntegrityError:
            self.counters.add("conflicts")
        except (PersistenceError, psycopg.Error) as e:
            self._db_trouble(msgs, e)
            return
        # A conflict: some run of the batch was saved by someone else meanwhile. Redo the batch
        # once from the stored states (results are still valid; stale ones are dropped), then,
        # if it conflicts again, each run alone.
        try:
            self._process(msgs, fresh=True)
            return
        except IntegrityError:
            self.counters.add("conflicts")
        except (PersistenceError, psycopg.Error) as e:
            self._db_trouble(msgs, e)
            return
        groups: dict[UUID, list[_Message]] = {}
        for m in msgs:
            groups.setdefault(m.run_id, []).append(m)
        for group in groups.values():
            for _ in range(5):
                try:
                    self._process(group, fresh=True)
                    break
                except IntegrityError:
                    self.counters.add("conflicts")
                except (PersistenceError, psycopg.Error) as e:
                    self._db_trouble(group, e)
                    break
            else:
                # a run that hot: never drop its results (their leases would stay held and
                # renewed, and the run stuck); take them again in a later batch
                for m in group:
                    self._inbox.put(m)

    def _db_trouble(self, msgs: list[_Message], error: Exception) -> None:
        """The database is away (restart, network): keep the messages and try again later."""
        self.counters.add("db_errors")
        log.warning("worker %s: save failed (%s); retrying", self.id, error)
        for m in msgs:
            self._cache.pop(m.run_id, None)
        self._done.wait(0.5)
        for m in msgs:
            self._inbox.put(m)

    def _release(self, keys: Iterable[TaskKey], tokens: dict[TaskKey, int] | None = None) -> None:
        """Forget leases (only those still under the given tokens, if given)."""
        with self._held_lock:
            for key in keys:
                lease = self._held.get(key)
                if lease is not None and (tokens is None or lease.token == tokens.get(key)):
                    del self._held[key]
                self._busy.discard(key)
        self._capacity.set()

    def _drop_fenced(self, msgs: list[_Message]) -> list[_Message]:
        """The messages whose lease is still current (the rest lost theirs: dropped)."""
        leased = {m.key: (m.attempt, m.fence) for m in msgs if isinstance(m, q.Claimed)}
        leased.update(
            {m.key: (m.call.attempt, m.token) for m in msgs
             if isinstance(m, _Result) and m.token is not None}
        )  # fmt: skip
        datastore = getattr(self.runs.recorder, "datastore", None)
        try:
            with datastore.get_connection() as conn:  # type: ignore[union-attr]
                current = q.current_fences(conn, leased)
        except (PersistenceError, psycopg.Error) as e:
            self._db_trouble(msgs, e)
            return []
        keep: list[_Message] = []
        dropped: dict[TaskKey, int] = {}
        for m in msgs:
            held = leased.get(m.key) if not isinstance(m, q.Claimed) or m.kind == "step" else None
            if held is not None and current.get(m.key) != held:
                dropped[m.key] = held[1]
                self._cache.pop(m.run_id, None)
            else:
                keep.append(m)
        if dropped:
            self.counters.add("stale", len(dropped))
            self._release(dropped, dropped)
            for key in dropped:
                self._early.pop(key, None)
        return keep

    def _quarantine(self, run_id: UUID, msgs: list[_Message], error: Exception) -> None:
        """A run whose messages fail alone, for a reason nobody expected: fail it visibly
        (its steps with kind ``internal``, the error recorded), without the planner. If even
        that fails, the run is parked (``liveness()``, ``stats()``) and its leases let go."""
        detail = f"{type(error).__name__}: {error}"[:2000]
        log.error("worker %s: run %s quarantined: %s", self.id, run_id, detail)
        try:
            run = self.runs.load(run_id)
            before = run_tasks(run)
            if not run.is_done:
                for m in msgs:
                    step_id, index, attempt = m.key[1], m.key[2], m.attempt
                    with contextlib.suppress(RunStateError, NotFoundError):
                        slot = run.slot(step_id, index)
                        if slot["attempt"] == attempt and slot["status"] in (
                            StepStatus.SCHEDULED, StepStatus.RUNNING
                        ):
                            run.fail_step(step_id, index, attempt, error_kind="internal",
                                          message=f"internal error in the engine: {detail}",
                                          retryable=False, worker_id=self.id)  # fmt: skip
                run.fail(f"internal error in the engine: {detail}")
            rows = [*before.values(), *(_task_of(m) for m in msgs if isinstance(m, q.Claimed))]
            self.runs.save(run, tasks_to_add=[], tasks_done=rows)
            self.counters.add("quarantined")
        except (PersistenceError, psycopg.Error) as e:
            self._db_trouble(msgs, e)  # the database, not the run: try the batch again later
            return
        except Exception:
            self.counters.add("parked")
            self._parked[run_id] = detail
            log.exception("worker %s: run %s cannot even be failed: parked", self.id, run_id)
        self._cache.pop(run_id, None)
        for m in msgs:
            self._early.pop(m.key, None)
        self._release(m.key for m in msgs)

    def _load(self, run_id: UUID, now: datetime, fresh: bool) -> _Work | None:
        """The run as this worker last saved it (optimistic: a stale copy fails its save with
        a conflict and is then reloaded), or as stored."""
        run = None if fresh else self._cache.pop(run_id, None)
        if run is None:
            try:
                run = self.runs.load(run_id)
            except NotFoundError:
                return None
            self.counters.add("loads")
            self.counters.add("loaded_versions", run.version)
        return _Work(run, run_tasks(run), now, cached=not fresh)

    def _refresh(self, w: _Work) -> None:
        """Bring a cached copy up to date (only pending-free copies: before any change)."""
        self.counters.add("refreshes")
        for event in self.runs.events.get(w.run.id, gt=w.run.version):
            w.run = event.mutate(w.run)  # type: ignore[attr-defined]
        w.before = run_tasks(w.run)
        w.cached = False

    def _process(self, msgs: list[_Message], *, fresh: bool = False) -> None:
        now = self.clock()
        works: dict[UUID, _Work | None] = {}
        b = _Batch()
        try:
            for m in msgs:
                if m.run_id not in works:
                    works[m.run_id] = self._load(m.run_id, now, fresh)
                w = works[m.run_id]
                if w is None:  # no such run: drop the row
                    if isinstance(m, q.Claimed):
                        b.extra_done.append(_task_of(m))
                    continue
                if isinstance(m, q.Claimed):
                    self._take_claim(m, w, b)
                else:
                    self._take_result(m, w, b)
            self._dispatch_early(works, b, now)
            self._save(works, msgs, now, b)
        except BaseException:
            for run_id in works:
                self._cache.pop(run_id, None)
            raise

    def _dispatch_early(self, works: dict[UUID, _Work | None], b: _Batch, now: datetime) -> None:
        """Claimed attempts start before the save that records them `running`: the call need
        not wait for that round trip (the lease deadline, checked by the executor, guards the
        start; the save's fence check guards the result). Once per claim, whatever retries of
        the batch follow."""
        for key, token in b.dispatch.items():
            if self._early.get(key) == token:
                continue  # dispatched by an earlier try of this batch
            owner = works.get(key[0])
            call = None if owner is None else self.planner.call_for(owner.run, key[1], key[2], now)
            if call is not None:
                self._early[key] = token
                self._dispatch(call, token)

    def _take_claim(self, m: q.Claimed, w: _Work, b: _Batch) -> None:
        current = w.before.get(m.key)
        stale = current is None or (current.attempt, current.kind) != (m.attempt, m.kind)
        if stale and w.cached and not w.dirty:
            self._refresh(w)  # our copy may be behind another worker's save
            current = w.before.get(m.key)
        if current is None or current.attempt != m.attempt or current.kind != m.kind:
            b.extra_done.append(_task_of(m))  # the row outlived its attempt
            self.counters.add("stale")
        elif m.kind == "timer":
            self.counters.add("timers_fired")
            w.dirty = True
            w.now = max(w.now, m.ready_at)  # the database said due: trust it over our clock
            b.timers.append(m)
        elif m.claims > self.config.max_claims:
            self.counters.add("lease_expired")
            w.run.fail_step(m.step_id, m.index, m.attempt, error_kind="lease_expired",
                            message=f"attempt lost {m.claims - 1} times by dead workers",
                            retryable=True, worker_id=self.id, token=m.fence)  # fmt: skip
            b.fences.append((m.key, m.attempt, m.fence))
            w.dirty = True
        else:
            # the step is `running` from this save on (fenced: committed only under our token)
            slot = w.run.slot(m.step_id, m.index)
            if slot["status"] == StepStatus.RUNNING and slot.get("token") == m.fence:
                pass  # recorded already (a save that committed although it reported an error)
            else:
                try:
                    w.run.start_step(m.step_id, m.index, m.attempt, self.id,
                                     lease_until=w.now + timedelta(seconds=self.config.lease_s),
                                     token=m.fence)  # fmt: skip
                except RunStateError:  # started meanwhile under a later claim: not ours
                    self.counters.add("stale")
                    return
            b.fences.append((m.key, m.attempt, m.fence))
            b.started.add(m.key)
            b.dispatch[m.key] = m.fence
            w.dirty = True

    def _take_result(self, m: _Result, w: _Work, b: _Batch) -> None:
        try:
            try:
                apply_outcome(w.run, m.call, m.outcome, self.id, m.token)
            except RunStateError:
                if not (w.cached and not w.dirty):
                    raise
                self._refresh(w)  # our copy may be behind: decide on the stored state
                apply_outcome(w.run, m.call, m.outcome, self.id, m.token)
        except RunStateError:  # stale: cancelled run, another worker's copy won, or fenced
            self.counters.add("stale")
            c = m.call
            implied = run_tasks(w.run).get(c.key)
            if implied is None or implied.attempt != c.attempt:  # the row outlived its attempt
                b.extra_done.append(RunTask(c.run_id, c.tenant_id, c.step_id, c.index,
                                            c.attempt, "step", None))  # fmt: skip
            return
        if m.token is not None:
            b.fences.append((m.key, m.call.attempt, m.token))
        w.dirty = True

    def _save(
        self,
        works: dict[UUID, _Work | None],
        msgs: list[_Message],
        now: datetime,
        b: _Batch,
    ) -> None:
        dirty = [w for w in works.values() if w is not None and w.dirty]
        for w in dirty:
            try:
                self.planner.advance(w.run, w.now)
            except LookupError as e:  # the definition is gone: the run cannot go on
                if not w.run.is_done:
                    w.run.fail(f"engine: {e}")
        adds: list[RunTask] = []
        dones = list(b.extra_done)
        afters: dict[UUID, dict[TaskKey, RunTask]] = {}
        for w in dirty:
            afters[w.run.id] = after = run_tasks(w.run)
            changes = task_changes(w.before, after)
            # an attempt we start now keeps its (leased) row: only its ready time changed
            adds += [t for t in changes.add if not _same_attempt(t, w.before, b.started)]
            dones += [t for t in changes.done if not _same_attempt(t, after, b.started)]
        added = {t.key for t in adds}
        release = [
            (t.key, 1.0) for t in b.timers
            if t.key in afters.get(t.run_id, {}) and t.key not in added
        ]  # fmt: skip
        consumed = {m.key for m in msgs} - set(b.dispatch)
        leased = self._pick_self_claims(adds, now, consumed)
        lease_until = now + timedelta(seconds=self.config.lease_s)
        for t in adds:
            if t.key in leased:  # `running` in the same save that schedules it
                owner = works[t.run_id]
                assert owner is not None
                owner.run.start_step(t.step_id, t.index, t.attempt, self.id,
                                     lease_until=lease_until, token=q.FIRST_TOKEN)  # fmt: skip
        sent = time.monotonic()
        if dirty or dones or release:
            recordings = self.runs.save(
                *(w.run for w in dirty), tasks_to_add=adds, tasks_done=dones,
                lease_to=self.id, leased=leased, lease_s=self.config.lease_s,
                tasks_release=release, fences=b.fences,
            )  # fmt: skip
            self.counters.add("saves")
            self.counters.add("events_saved", len(recordings))
            self.counters.add("runs_saved", len(dirty))
            self.counters.add("self_claimed", len(leased))
        for kept in works.values():
            if kept is not None:
                self._cache[kept.run.id] = kept.run
                self._cache.move_to_end(kept.run.id)
        while len(self._cache) > 2000:
            self._cache.popitem(last=False)
        attempts = {t.key: t.attempt for t in adds if t.key in leased}
        consumed -= set(attempts)  # re-leased to us (e.g. an immediate retry of the same step)
        tokens = {**b.dispatch, **dict.fromkeys(attempts, q.FIRST_TOKEN)}
        calls: list[tuple[StepCall, int]] = []
        for key in [*b.dispatch, *leased]:
            if key in b.dispatch and self._early.pop(key, None) == b.dispatch[key]:
                continue  # started before the save (see _dispatch_early)
            owner = works.get(key[0])
            call = None if owner is None else self.planner.call_for(owner.run, key[1], key[2], now)
            if call is not None:
                calls.append((call, tokens[key]))
            else:
                consumed.add(key)
        with self._held_lock:
            for key in consumed:
                self._early.pop(key, None)
                self._held.pop(key, None)
                self._busy.discard(key)
            for k, a in attempts.items():
                if k not in consumed:
                    self._held[k] = _Lease(a, q.FIRST_TOKEN, self._deadline(sent))
                    self._busy.add(k)
        if consumed:
            self._capacity.set()
        for call, token in calls:
            self._dispatch(call, token)

    def _pick_self_claims(
        self, adds: list[RunTask], now: datetime, consumed: set[TaskKey]
    ) -> set[TaskKey]:
        """The new ready attempts this worker takes itself (inserted already leased)."""
        if self._stopping.is_set():
            return set()
        with self._held_lock:
            busy = len(self._busy - consumed)
            held = len(self._held.keys() - consumed)
        free = min(self.config.concurrency - busy,
                   MAX_HELD_FACTOR * self.config.concurrency - held)  # fmt: skip
        per_tenant: dict[str, int] = {}
        leased: set[TaskKey] = set()
        for t in adds:
            if free <= 0:
                break
            if t.kind != "step" or (t.ready_at is not None and t.ready_at > now):
                continue
            n = per_tenant.get(t.tenant_id, 0)
            if n >= self.config.tenant_cap:
                continue
            per_tenant[t.tenant_id] = n + 1
            leased.add(t.key)
            free -= 1
        return leased


def _same_attempt(
    t: RunTask, other: dict[TaskKey, RunTask], started: set[TaskKey]
) -> bool:
    """``t`` is a row of an attempt started in this save that stays the same attempt."""
    o = other.get(t.key)
    return t.key in started and o is not None and (o.attempt, o.kind) == (t.attempt, t.kind)


def _task_of(m: q.Claimed) -> RunTask:
    return RunTask(m.run_id, m.tenant_id, m.step_id, m.index, m.attempt, m.kind, m.ready_at)


def _with_deadline(fn: Callable[[], Outcome], timeout_s: float | None) -> Outcome:
    """Run ``fn``; past ``timeout_s`` the attempt fails with kind ``timeout`` (fn is abandoned)."""
    if not timeout_s:
        return fn()
    box: list[Outcome] = []

    def target() -> None:
        try:
            box.append(fn())
        except Exception as e:
            box.append(Failed("error", f"{type(e).__name__}: {e}", True))

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout_s)
    if not box:
        return Failed("timeout", f"the attempt took longer than {timeout_s:g}s", True)
    return box[0]


# ---------------------------------------------------------------------------- composition


def build_worker(
    es_env: dict[str, str],
    conninfo: str,
    *,
    platform: Any = None,
    config: WorkerConfig | None = None,
    inline_kinds: Any = None,
    skill_catalog: SkillCatalog | None = None,
) -> Worker:
    """A worker with its own Runs application (task recorder) and an HTTP client.

    ``es_env`` is the eventsourcing environment of the role the worker uses (platinum_system);
    ``platform`` (a ``domain.platform.Platform``) serves definitions, notify and skills (found
    through ``skill_catalog``, the read model's port).
    """
    from engine.scheduling.planner import platform_definitions
    from engine.steps import PURE_KINDS
    from engine.steps.http import client
    from engine.steps.skills import PlatformSkills

    skills = (
        PlatformSkills(platform, skill_catalog)
        if platform is not None and skill_catalog is not None
        else None
    )
    planner = EnginePlanner(
        platform_definitions(platform) if platform is not None else None,
        skills=skills,
        inline_kinds=PURE_KINDS if inline_kinds is None else inline_kinds,
    )
    runs = Runs(env=q.runs_env(es_env), planner=planner)
    http = client()
    ctx = KindContext(platform=platform, http=http, skills=skills)

    def close() -> None:
        http.close()
        runs.close()

    return Worker(runs, planner, conninfo, config=config, ctx=ctx, on_stop=close)
