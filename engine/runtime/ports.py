"""The work queue as the runtime's threads see it: the ``TaskQueue`` port and what crosses it.

``engine.runtime.task_store`` implements it on PostgreSQL (table ``run_tasks``); the unit tests
implement it in memory. The queue's rows are written only by the runs' recorder, in the
transaction of the runs' events (``domain.runs.tasks.TaskChanges``); through this port the
runtime leases them (claim, heartbeat, give back) and checks whose lease a row holds now.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

import psycopg
from eventsourcing.persistence import PersistenceError

from domain.runs.tasks import RunTask, TaskKey
from engine.errors import EngineError

DB_ERRORS: tuple[type[Exception], ...] = (PersistenceError, psycopg.Error)
"""What the store raises while the database is away (a restart, the network): try later."""

FIRST_TOKEN = 1
"""The fencing token of the lease a worker takes of an attempt it scheduled itself (the
attempt's first lease; every claim from the queue takes a larger one from a sequence)."""


class FencedError(EngineError):
    """A save carried a result (or a start) of an attempt this worker no longer holds: another
    worker claimed it again after the lease ran out. Nothing of that save was committed."""


@dataclass(frozen=True)
class Claimed:
    """A task row a worker holds the lease of."""

    run_id: UUID
    step_id: str
    index: int | None
    attempt: int
    tenant_id: str
    kind: str
    ready_at: datetime
    claims: int
    fence: int  # the fencing token of this lease (larger than any lease of the row before)

    @property
    def key(self) -> TaskKey:
        return (self.run_id, self.step_id, self.index)

    def task(self) -> RunTask:
        """The row as a run's task (to delete it when it outlived its attempt)."""
        return RunTask(self.run_id, self.tenant_id, self.step_id, self.index, self.attempt,
                       self.kind, self.ready_at)  # fmt: skip


class QueueSession(Protocol):
    """One connection to the queue, used by one thread; ``closed`` once it broke."""

    @property
    def closed(self) -> bool: ...

    def claim(self, worker_id: str, n: int, *, lease_s: float, tenant_cap: int) -> list[Claimed]:
        """Lease up to ``n`` ready rows, fairly across tenants, at most ``tenant_cap`` leased
        per tenant; rows locked by another claimer are skipped, never waited for."""
        ...

    def next_due_s(self) -> float | None:
        """Seconds until some row becomes claimable (negative: already), None if none."""
        ...

    def wait(self, timeout_s: float) -> None:
        """Sleep until a row is added or given back (a notification), at most ``timeout_s``."""
        ...

    def heartbeat(
        self, worker_id: str, leases: Mapping[TaskKey, int], lease_s: float
    ) -> set[TaskKey]:
        """Extend the leases (key -> fencing token) still held; returns their keys."""
        ...

    def close(self) -> None: ...


class TaskQueue(Protocol):
    """The queue: sessions for the claimer and the heartbeat, and two one-off calls."""

    def session(self, *, listen: bool = False) -> QueueSession:
        """A new session; ``listen``: it will ``wait`` for notifications."""
        ...

    def current_fences(self, keys: Collection[TaskKey]) -> dict[TaskKey, tuple[int, int]]:
        """The (attempt, fencing token) each row holds now (rows that are gone are absent)."""
        ...

    def release(self, worker_id: str, keys: Collection[TaskKey]) -> None:
        """Give leases back (a worker stopping): other workers may take the rows at once."""
        ...
