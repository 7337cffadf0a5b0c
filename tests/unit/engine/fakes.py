"""``FakeTaskStore``: the work queue in memory, for unit tests of the runtime (no PostgreSQL).

It is both the runs' recorder (the library's in-memory recorder that also applies each save's
``TaskChanges`` with its events, under the same lock, and checks the save's fences) and the
runtime's ``TaskQueue`` port (claim, heartbeat, give back, read fences). ``InMemoryRuns`` is a
``Runs`` application recording into one. ``fail_next`` makes the next calls of a method raise
(a database going away).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from eventsourcing.persistence import ApplicationRecorder, StoredEvent
from eventsourcing.popo import POPOApplicationRecorder

from domain.kernel.clock import utc_now
from domain.runs.application import Runs
from domain.runs.tasks import RunTask, TaskChanges, TaskKey
from engine.runtime.ports import FIRST_TOKEN, Claimed, FencedError


@dataclass
class Row:
    """A row of the queue: the task, and its lease."""

    task: RunTask
    ready_at: datetime
    worker_id: str | None = None
    lease_until: datetime | None = None
    claims: int = 0
    fence: int = 0


class FakeTaskStore(POPOApplicationRecorder):
    """``run_tasks`` in memory; see the module's docstring."""

    def __init__(self, clock: Any = utc_now) -> None:
        super().__init__()
        self.clock = clock
        self.rows: dict[TaskKey, Row] = {}
        self.notified = threading.Event()
        self.fail_next: dict[str, list[Exception]] = {}
        self.saved: list[TaskChanges] = []
        self._fences = itertools.count(100)

    def _maybe_fail(self, name: str) -> None:
        errors = self.fail_next.get(name)
        if errors:
            raise errors.pop(0)

    # -- the recorder: task changes with the events, atomically

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        self._maybe_fail("insert_events")
        changes = kwargs.get("task_changes") or TaskChanges()
        assert isinstance(changes, TaskChanges)
        with self._database_lock:
            for key, attempt, token in changes.fences:
                row = self.rows.get(key)
                if row is None or (row.task.attempt, row.fence) != (attempt, token):
                    raise FencedError(f"lease of {key} attempt {attempt} token {token} lost")
            ids = super().insert_events(stored_events)  # IntegrityError: nothing applied
            self._apply(changes)
            self.saved.append(changes)
        return ids

    def _apply(self, changes: TaskChanges) -> None:
        now = self.clock()
        for t in changes.done:
            row = self.rows.get(t.key)
            if row is not None and row.task.attempt == t.attempt:
                del self.rows[t.key]
        for t in changes.add:
            row = Row(t, t.ready_at or now)
            if changes.lease_to is not None and t.key in changes.leased:
                row.worker_id, row.claims, row.fence = changes.lease_to, 1, FIRST_TOKEN
                row.lease_until = now + timedelta(seconds=changes.lease_s)
            else:
                self.notified.set()
            self.rows[t.key] = row
        if changes.lease_to is not None:
            for key, delay in changes.release:
                row = self.rows.get(key)
                if row is not None and row.worker_id == changes.lease_to:
                    row.worker_id = row.lease_until = None
                    row.ready_at = max(row.ready_at, now + timedelta(seconds=delay))
            if changes.release:
                self.notified.set()

    def tasks(self) -> dict[TaskKey, RunTask]:
        """The tasks as rows hold them (the leases left out)."""
        with self._database_lock:
            return {k: r.task for k, r in self.rows.items()}

    # -- the TaskQueue port

    def session(self, *, listen: bool = False) -> FakeSession:
        self._maybe_fail("session")
        return FakeSession(self)

    def current_fences(self, keys: Collection[TaskKey]) -> dict[TaskKey, tuple[int, int]]:
        self._maybe_fail("current_fences")
        with self._database_lock:
            return {k: (r.task.attempt, r.fence) for k in keys if (r := self.rows.get(k))}

    def release(self, worker_id: str, keys: Collection[TaskKey]) -> None:
        with self._database_lock:
            for key in keys:
                row = self.rows.get(key)
                if row is not None and row.worker_id == worker_id:
                    row.worker_id = row.lease_until = None
        self.notified.set()

    def expire(self, key: TaskKey) -> None:
        """The lease of the row ran out (its worker died)."""
        with self._database_lock:
            self.rows[key].lease_until = self.clock() - timedelta(seconds=1)


class FakeSession:
    """A ``QueueSession`` on a ``FakeTaskStore``."""

    def __init__(self, store: FakeTaskStore) -> None:
        self.store = store
        self.closed = False

    def claim(self, worker_id: str, n: int, *, lease_s: float, tenant_cap: int) -> list[Claimed]:
        self.store._maybe_fail("claim")
        now = self.store.clock()
        out: list[Claimed] = []
        with self.store._database_lock:
            rows = self.store.rows
            leased: dict[str, int] = {}
            for r in rows.values():
                if r.lease_until is not None and r.lease_until >= now:
                    leased[r.task.tenant_id] = leased.get(r.task.tenant_id, 0) + 1
            ready = sorted(
                (r for r in rows.values()
                 if r.ready_at <= now and (r.lease_until is None or r.lease_until < now)),
                key=lambda r: r.ready_at,
            )  # fmt: skip
            for r in ready:
                if len(out) >= n or leased.get(r.task.tenant_id, 0) >= tenant_cap:
                    continue
                leased[r.task.tenant_id] = leased.get(r.task.tenant_id, 0) + 1
                r.worker_id, r.lease_until = worker_id, now + timedelta(seconds=lease_s)
                r.claims, r.fence = r.claims + 1, next(self.store._fences)
                t = r.task
                out.append(Claimed(t.run_id, t.step_id, t.index, t.attempt, t.tenant_id, t.kind,
                                   r.ready_at, r.claims, r.fence))  # fmt: skip
        return out

    def next_due_s(self) -> float | None:
        now = self.store.clock()
        with self.store._database_lock:
            times = [r.lease_until if r.lease_until is not None else r.ready_at
                     for r in self.store.rows.values()]  # fmt: skip
        return None if not times else (min(times) - now).total_seconds()

    def wait(self, timeout_s: float) -> None:
        self.store.notified.wait(timeout_s)
        self.store.notified.clear()

    def heartbeat(
        self, worker_id: str, leases: Mapping[TaskKey, int], lease_s: float
    ) -> set[TaskKey]:
        self.store._maybe_fail("heartbeat")
        now = self.store.clock()
        renewed: set[TaskKey] = set()
        with self.store._database_lock:
            for key, token in leases.items():
                r = self.store.rows.get(key)
                if r is not None and r.worker_id == worker_id and r.fence == token:
                    r.lease_until = now + timedelta(seconds=lease_s)
                    renewed.add(key)
        return renewed

    def close(self) -> None:
        self.closed = True


class InMemoryRuns(Runs):
    """``Runs`` recording into a ``FakeTaskStore`` (``store``)."""

    def __init__(self, store: FakeTaskStore, **kwargs: Any) -> None:
        self.store = store
        super().__init__(**kwargs)

    def construct_recorder(self) -> ApplicationRecorder:
        return self.store
