"""The committer: the only thread that touches runs; it saves batches and survives their failures.

It takes whatever claims and results are waiting (up to ``max_batch``) and has ``BatchSaver``
apply and save them in ONE transaction. What can go wrong, and what it does then:

- a conflict (another worker saved one of the runs meanwhile): the batch again from the stored
  runs, then run by run; a run that stays that hot has its messages taken again later;
- a fenced save (a lease of the batch was lost): the messages whose lease is gone are dropped
  and the rest saved;
- the database away: the messages wait and are tried again;
- anything else (a bug, one run's bad data): the batch run by run, and a run that still fails
  alone is quarantined (failed visibly, kind ``internal``), or parked if even that fails.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from domain.kernel.errors import NotFoundError
from domain.runs.run import RunStateError, StepStatus
from domain.runs.tasks import TaskChanges, TaskKey, run_tasks
from engine.runtime.batch import BatchSaver
from engine.runtime.config import Counters, WorkerConfig
from engine.runtime.executor import Message, Result
from engine.runtime.leases import Leases
from engine.runtime.ports import DB_ERRORS, Claimed, FencedError, TaskQueue
from engine.runtime.run_cache import RunCache

log = logging.getLogger(__name__)


class Committer:
    """The commit loop (``loop``; one thread, until ``done``)."""

    def __init__(
        self,
        config: WorkerConfig,
        batches: BatchSaver,
        tasks: TaskQueue,
        cache: RunCache,
        leases: Leases,
        inbox: queue.Queue[Message],
        counters: Counters,
        done: threading.Event,
        beat: Callable[[], None],
    ) -> None:
        self.config = config
        self.batches = batches
        self.runs = batches.runs
        self.tasks = tasks
        self.cache = cache
        self.leases = leases
        self.inbox = inbox
        self.counters = counters
        self.done = done
        self.beat = beat
        self.parked: dict[UUID, str] = {}  # runs that could not even be failed: why

    @property
    def worker_id(self) -> str:
        return self.config.worker_id

    def loop(self) -> None:
        while not self.done.is_set():
            self.beat()
            try:
                first = self.inbox.get(timeout=0.2)
            except queue.Empty:
                continue
            msgs: list[Message] = [first]
            while len(msgs) < self.config.max_batch:
                try:
                    msgs.append(self.inbox.get_nowait())
                except queue.Empty:
                    break
            self.handle(msgs)

    def handle(self, msgs: list[Message]) -> None:
        """Save a batch. An error nobody expected (a bug, one run's bad data) is retried run by
        run, and a run that still fails alone is quarantined: the others go on."""
        try:
            self._handle_fenced(msgs)
            return
        except Exception:
            self.counters.add("internal_errors")
            log.exception("worker %s: a batch of %d messages failed; retrying run by run",
                          self.worker_id, len(msgs))  # fmt: skip
        for run_id, group in _by_run(msgs).items():
            self.cache.drop(run_id)
            try:
                self._handle_fenced(group)
            except Exception as e:
                self._quarantine(run_id, group, e)

    def _handle_fenced(self, msgs: list[Message]) -> None:
        """Save a batch; if it carried a lease lost meanwhile, drop those messages and redo."""
        for _ in range(3):
            try:
                self._handle_db(msgs)
                return
            except FencedError as e:
                self.counters.add("fenced")
                log.warning("worker %s: %s", self.worker_id, e)
                msgs = self._drop_fenced(msgs)
                if not msgs:
                    return
        self._handle_db(msgs)

    def _try(self, msgs: list[Message], *, fresh: bool) -> bool | None:
        """Process once: True if saved, False on a conflict, None if the database is away
        (the messages then wait for a later batch)."""
        try:
            self.batches.process(msgs, fresh=fresh)
            return True
        except IntegrityError:
            self.counters.add("conflicts")
            return False
        except DB_ERRORS as e:
            self._db_trouble(msgs, e)
            return None

    def _handle_db(self, msgs: list[Message]) -> None:
        # A conflict: some run of the batch was saved by someone else meanwhile. Redo the batch
        # once from the stored states (results are still valid; stale ones are dropped), then,
        # if it conflicts again, each run alone.
        for fresh in (False, True):
            if self._try(msgs, fresh=fresh) is not False:
                return
        for group in _by_run(msgs).values():
            for _ in range(5):
                if self._try(group, fresh=True) is not False:
                    break
            else:
                # a run that hot: never drop its results (their leases would stay held and
                # renewed, and the run stuck); take them again in a later batch
                for m in group:
                    self.inbox.put(m)

    def _db_trouble(self, msgs: list[Message], error: Exception) -> None:
        """The database is away (restart, network): keep the messages and try again later."""
        self.counters.add("db_errors")
        log.warning("worker %s: save failed (%s); retrying", self.worker_id, error)
        for m in msgs:
            self.cache.drop(m.run_id)
        self.done.wait(0.5)
        for m in msgs:
            self.inbox.put(m)

    def _drop_fenced(self, msgs: list[Message]) -> list[Message]:
        """The messages whose lease is still current (the rest lost theirs: dropped)."""
        leased = {m.key: (m.attempt, m.fence) for m in msgs if isinstance(m, Claimed)}
        leased.update(
            {m.key: (m.call.attempt, m.token) for m in msgs
             if isinstance(m, Result) and m.token is not None}
        )  # fmt: skip
        try:
            current = self.tasks.current_fences(leased)
        except DB_ERRORS as e:
            self._db_trouble(msgs, e)
            return []
        keep: list[Message] = []
        dropped: dict[TaskKey, int] = {}
        for m in msgs:
            held = leased.get(m.key) if not isinstance(m, Claimed) or m.kind == "step" else None
            if held is not None and current.get(m.key) != held:
                dropped[m.key] = held[1]
                self.cache.drop(m.run_id)
            else:
                keep.append(m)
        if dropped:
            self.counters.add("stale", len(dropped))
            self.leases.release(dropped, dropped)
            for key in dropped:
                self.batches.early.pop(key, None)
        return keep

    def _quarantine(self, run_id: UUID, msgs: list[Message], error: Exception) -> None:
        """A run whose messages fail alone, for a reason nobody expected: fail it visibly
        (its steps with kind ``internal``, the error recorded), without the planner. If even
        that fails, the run is parked (``liveness()``, ``stats()``) and its leases let go."""
        detail = f"{type(error).__name__}: {error}"[:2000]
        log.error("worker %s: run %s quarantined: %s", self.worker_id, run_id, detail)
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
                                          retryable=False, worker_id=self.worker_id)  # fmt: skip
                run.fail(f"internal error in the engine: {detail}")
            rows = (*before.values(), *(m.task() for m in msgs if isinstance(m, Claimed)))
            self.runs.save_changes([run], TaskChanges(done=rows))
            self.counters.add("quarantined")
        except DB_ERRORS as e:
            self._db_trouble(msgs, e)  # the database, not the run: try the batch again later
            return
        except Exception:
            self.counters.add("parked")
            self.parked[run_id] = detail
            log.exception("worker %s: run %s cannot even be failed: parked", self.worker_id,
                          run_id)  # fmt: skip
        self.cache.drop(run_id)
        for m in msgs:
            self.batches.early.pop(m.key, None)
        self.leases.release(m.key for m in msgs)


def _by_run(msgs: list[Message]) -> dict[UUID, list[Message]]:
    groups: dict[UUID, list[Message]] = {}
    for m in msgs:
        groups.setdefault(m.run_id, []).append(m)
    return groups
