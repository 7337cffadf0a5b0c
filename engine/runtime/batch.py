"""One batch of the committer: claims and results folded into their runs, ONE save for all.

Each run of the batch is loaded once (``RunCache``); a claim records its attempt ``running``
(fenced: committed only under the claim's token), a fired timer or a result is applied; then
the planner advances every run that changed, and all of them are saved in one transaction with
their ``TaskChanges``. The new ready attempts this worker has room for are inserted already
leased to it (first token) and dispatched once the save committed; claimed attempts are
dispatched before the save (``dispatch_early``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from domain.runs.application import Runs
from domain.runs.run import Run, RunStateError, StepStatus
from domain.runs.tasks import Fence, RunTask, TaskChanges, TaskKey, run_tasks, task_changes
from engine.runtime.children import report, start_child
from engine.runtime.config import Counters, WorkerConfig
from engine.runtime.executor import Message, Result
from engine.runtime.leases import Leases
from engine.runtime.ports import FIRST_TOKEN, Claimed
from engine.runtime.run_cache import RunCache
from engine.scheduling.errors import DefinitionUnavailableError
from engine.scheduling.planner import EnginePlanner, apply_outcome
from engine.scheduling.retry import LEASE_EXPIRED
from engine.steps import StartChild, StepCall

Dispatch = Callable[[StepCall, int], None]


@dataclass
class _Asks:
    """What a batch's messages ask of its save, besides the runs' own task changes."""

    dispatch: dict[TaskKey, int] = field(default_factory=dict)  # claimed attempt -> token
    started: set[TaskKey] = field(default_factory=set)  # attempts started by this save
    extra_done: list[RunTask] = field(default_factory=list)  # rows that outlived their attempt
    timers: list[Claimed] = field(default_factory=list)
    fences: list[Fence] = field(default_factory=list)  # leases the commit depends on


@dataclass
class _Work:
    run: Run
    before: dict[TaskKey, RunTask]
    now: datetime
    cached: bool = False
    dirty: bool = False


class BatchSaver:
    """Folds batches into runs and saves them (the committer's thread only).

    ``early``: claimed attempts dispatched before their save (key -> token), shared with the
    committer, which forgets those whose messages it drops."""

    def __init__(
        self,
        runs: Runs,
        planner: EnginePlanner,
        config: WorkerConfig,
        cache: RunCache,
        leases: Leases,
        counters: Counters,
        dispatch: Dispatch,
        stopping: threading.Event,
        clock: Callable[[], datetime],
    ) -> None:
        self.runs = runs
        self.planner = planner
        self.config = config
        self.cache = cache
        self.leases = leases
        self.counters = counters
        self.dispatch = dispatch
        self.stopping = stopping
        self.clock = clock
        self.early: dict[TaskKey, int] = {}

    @property
    def worker_id(self) -> str:
        return self.config.worker_id

    def process(self, msgs: list[Message], *, fresh: bool = False) -> None:
        """Apply the messages and save (``fresh``: from the stored runs, not the cached)."""
        now = self.clock()
        works: dict[UUID, _Work | None] = {}
        b = _Asks()
        try:
            for m in msgs:
                if m.run_id not in works:
                    run = self.cache.take(m.run_id, fresh=fresh)
                    works[m.run_id] = None if run is None else _Work(
                        run, run_tasks(run), now, cached=not fresh)  # fmt: skip
                w = works[m.run_id]
                if w is None:  # no such run: drop the row
                    if isinstance(m, Claimed):
                        b.extra_done.append(m.task())
                    continue
                if isinstance(m, Claimed):
                    self._take_claim(m, w, b)
                elif (child := self._take_result(m, w, b)) is not None:
                    works[child.id] = _Work(child, {}, now, dirty=True)
            self._report_children(works, fresh)
            self._dispatch_early(works, b, now)
            self._save(works, msgs, now, b)
        except BaseException:
            for run_id in works:
                self.cache.drop(run_id)
            raise

    def _refresh(self, w: _Work) -> None:
        """Bring a cached copy up to date (only pending-free copies: before any change)."""
        w.run = self.cache.refresh(w.run)
        w.before = run_tasks(w.run)
        w.cached = False

    def _dispatch_early(self, works: dict[UUID, _Work | None], b: _Asks, now: datetime) -> None:
        """Claimed attempts start before the save that records them `running`: the call need
        not wait for that round trip (the lease deadline, checked by the executor, guards the
        start; the save's fence check guards the result). Once per claim, whatever retries of
        the batch follow."""
        for key, token in b.dispatch.items():
            if self.early.get(key) == token:
                continue  # dispatched by an earlier try of this batch
            owner = works.get(key[0])
            call = None if owner is None else self.planner.call_for(owner.run, key[1], key[2], now)
            if call is not None:
                self.early[key] = token
                self.dispatch(call, token)

    def _take_claim(self, m: Claimed, w: _Work, b: _Asks) -> None:
        current = w.before.get(m.key)
        stale = current is None or (current.attempt, current.kind) != (m.attempt, m.kind)
        if stale and w.cached and not w.dirty:
            self._refresh(w)  # our copy may be behind another worker's save
            current = w.before.get(m.key)
        if current is None or current.attempt != m.attempt or current.kind != m.kind:
            b.extra_done.append(m.task())  # the row outlived its attempt
            self.counters.add("stale")
        elif m.kind == "timer":
            self.counters.add("timers_fired")
            w.dirty = True
            w.now = max(w.now, m.ready_at)  # the database said due: trust it over our clock
            b.timers.append(m)
        elif m.claims > self.config.max_claims:
            self.counters.add("lease_expired")
            w.run.fail_step(m.step_id, m.index, m.attempt, error_kind=LEASE_EXPIRED,
                            message=f"attempt lost {m.claims - 1} times by dead workers",
                            retryable=True, worker_id=self.worker_id, token=m.fence)  # fmt: skip
            b.fences.append((m.key, m.attempt, m.fence))
            w.dirty = True
        else:
            # the step is `running` from this save on (fenced: committed only under our token)
            slot = w.run.slot(m.step_id, m.index)
            if slot["status"] == StepStatus.RUNNING and slot.get("token") == m.fence:
                pass  # recorded already (a save that committed although it reported an error)
            else:
                try:
                    w.run.start_step(m.step_id, m.index, m.attempt, self.worker_id,
                                     lease_until=w.now + timedelta(seconds=self.config.lease_s),
                                     token=m.fence)  # fmt: skip
                except RunStateError:  # started meanwhile under a later claim: not ours
                    self.counters.add("stale")
                    return
            b.fences.append((m.key, m.attempt, m.fence))
            b.started.add(m.key)
            b.dispatch[m.key] = m.fence
            w.dirty = True

    def _apply(self, m: Result, w: _Work) -> Run | None:
        """Record the result on its run; a ``StartChild`` also makes the child run."""
        if isinstance(m.outcome, StartChild):
            return start_child(w.run, m.call, m.outcome, self.planner, w.now,
                               worker_id=self.worker_id, token=m.token)  # fmt: skip
        apply_outcome(w.run, m.call, m.outcome, self.worker_id, m.token)
        return None

    def _take_result(self, m: Result, w: _Work, b: _Asks) -> Run | None:
        """Apply a result; returns the child run it started, if any (saved in this batch)."""
        try:
            try:
                child = self._apply(m, w)
            except RunStateError:
                if not (w.cached and not w.dirty):
                    raise
                self._refresh(w)  # our copy may be behind: decide on the stored state
                child = self._apply(m, w)
        except RunStateError:  # stale: cancelled run, another worker's copy won, or fenced
            self.counters.add("stale")
            c = m.call
            implied = run_tasks(w.run).get(c.key)
            if implied is None or implied.attempt != c.attempt:  # the row outlived its attempt
                b.extra_done.append(RunTask(c.run_id, c.tenant_id, c.step_id, c.index,
                                            c.attempt, "step", None))  # fmt: skip
            return None
        if m.token is not None:
            b.fences.append((m.key, m.call.attempt, m.token))
        w.dirty = True
        return child

    def _report_children(self, works: dict[UUID, _Work | None], fresh: bool) -> None:
        """Children that ended earlier and whose report task fired: tell their parents (the
        parent joins this batch's save)."""
        for w in list(works.values()):
            if w is None or not w.dirty or not w.run.needs_report:
                continue
            parent_id = UUID(str((w.run.parent or {}).get("run_id")))
            owner = works.get(parent_id)
            if owner is None:
                parent = self.cache.take(parent_id, fresh=fresh)
                if parent is not None:
                    owner = works[parent_id] = _Work(
                        parent, run_tasks(parent), w.now, cached=not fresh)  # fmt: skip
            if owner is not None and owner.cached and not owner.dirty:
                link = w.run.parent or {}
                if owner.run.waits_for_child(link["step_id"], link.get("index"), w.run.id) is None:
                    # a cached copy may predate the wait: decide "no longer waits" on the stored
                    # parent only (a parent saved with changes is checked by its save instead)
                    self._refresh(owner)
            if report(w.run, None if owner is None else owner.run) and owner is not None:
                owner.dirty = True

    def _save(
        self, works: dict[UUID, _Work | None], msgs: list[Message], now: datetime, b: _Asks
    ) -> None:
        dirty = [w for w in works.values() if w is not None and w.dirty]
        for w in dirty:
            try:
                self.planner.advance(w.run, w.now)
            except DefinitionUnavailableError as e:  # the run cannot go on
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
                owner.run.start_step(t.step_id, t.index, t.attempt, self.worker_id,
                                     lease_until=lease_until, token=FIRST_TOKEN)  # fmt: skip
        sent = time.monotonic()
        if dirty or dones or release:
            changes = TaskChanges(
                tuple(adds), tuple(dones), lease_to=self.worker_id, leased=frozenset(leased),
                lease_s=self.config.lease_s, release=tuple(release), fences=tuple(b.fences),
            )  # fmt: skip
            recordings = self.runs.save_changes([w.run for w in dirty], changes)
            self.counters.add("saves")
            self.counters.add("events_saved", len(recordings))
            self.counters.add("runs_saved", len(dirty))
            self.counters.add("self_claimed", len(leased))
        for kept in works.values():
            if kept is not None:
                self.cache.keep(kept.run)
        attempts = {t.key: t.attempt for t in adds if t.key in leased}
        consumed -= set(attempts)  # re-leased to us (e.g. an immediate retry of the same step)
        tokens = {**b.dispatch, **dict.fromkeys(attempts, FIRST_TOKEN)}
        calls: list[tuple[StepCall, int]] = []
        for key in [*b.dispatch, *leased]:
            if key in b.dispatch and self.early.pop(key, None) == b.dispatch[key]:
                continue  # started before the save (see _dispatch_early)
            owner = works.get(key[0])
            call = None if owner is None else self.planner.call_for(owner.run, key[1], key[2], now)
            if call is not None:
                calls.append((call, tokens[key]))
            else:
                consumed.add(key)
        for key in consumed:
            self.early.pop(key, None)
        self.leases.settle(consumed, attempts, sent)
        for call, token in calls:
            self.dispatch(call, token)

    def _pick_self_claims(
        self, adds: list[RunTask], now: datetime, consumed: set[TaskKey]
    ) -> set[TaskKey]:
        """The new ready attempts this worker takes itself (inserted already leased)."""
        if self.stopping.is_set():
            return set()
        free = self.leases.free(consumed)
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


def _same_attempt(t: RunTask, other: dict[TaskKey, RunTask], started: set[TaskKey]) -> bool:
    """``t`` is a row of an attempt started in this save that stays the same attempt."""
    o = other.get(t.key)
    return t.key in started and o is not None and (o.attempt, o.kind) == (t.attempt, t.kind)
