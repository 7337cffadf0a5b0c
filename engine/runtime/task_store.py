"""The work queue on PostgreSQL: table ``run_tasks``, written with the runs' events.

``TaskRecorder`` is the library's PostgreSQL application recorder that also writes the save's
``TaskChanges`` (``domain.runs.tasks``): ``Runs.save_runs`` passes them as ``task_changes``, and
the rows are deleted and inserted in the transaction that appends the events (pipelined: no
extra round trip). A worker may take the tasks it adds for itself (``lease_to``): they are
inserted already leased, so its next steps start without a claim query. Other new tasks raise
``NOTIFY platinum_run_tasks`` (sent on commit). ``PgTaskQueue`` is the runtime's ``TaskQueue``
port on the same table (claim, heartbeat, give back, read fences).

Events stay the truth: ``rebuild_run_tasks`` recomputes every row from the runs' states.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import retry
from psycopg import Cursor
from psycopg.rows import DictRow, tuple_row

from domain.runs.application import Runs
from domain.runs.tasks import TaskChanges, TaskKey, run_tasks
from engine.errors import EngineError
from engine.runtime.ports import Claimed, FencedError

log = logging.getLogger(__name__)

CHANNEL = "platinum_run_tasks"
RECORDER_TOPIC = "engine.runtime.task_store:TaskRecorder"
NO_INDEX = -1  # run_tasks.idx of a step itself (n >= 0: its foreach item n)

def runs_env(env: dict[str, str]) -> dict[str, str]:
    """An eventsourcing environment for ``Runs`` that records task changes with the events."""
    return {**env, "RUNS_APPLICATION_RECORDER_TOPIC": RECORDER_TOPIC}


def _idx(index: int | None) -> int:
    return NO_INDEX if index is None else index


_DELETE = """
DELETE FROM run_tasks t
USING unnest(%s::uuid[], %s::text[], %s::int[], %s::int[]) AS d(run_id, step_id, idx, attempt)
WHERE t.run_id = d.run_id AND t.step_id = d.step_id AND t.idx = d.idx AND t.attempt = d.attempt
"""

_INSERT = """
INSERT INTO run_tasks AS t
    (run_id, step_id, idx, attempt, tenant_id, kind, ready_at, worker_id, lease_until, claims,
     fence)
SELECT d.run_id, d.step_id, d.idx, d.attempt, d.tenant_id, d.kind, coalesce(d.ready_at, now()),
       CASE WHEN d.leased THEN %s END,
       CASE WHEN d.leased THEN now() + %s * interval '1 second' END,
       CASE WHEN d.leased THEN 1 ELSE 0 END,
       CASE WHEN d.leased THEN 1 ELSE 0 END
FROM unnest(%s::uuid[], %s::text[], %s::int[], %s::int[], %s::text[], %s::text[],
            %s::timestamptz[], %s::bool[])
     AS d(run_id, step_id, idx, attempt, tenant_id, kind, ready_at, leased)
ORDER BY d.run_id, d.step_id, d.idx
ON CONFLICT (run_id, step_id, idx) DO UPDATE SET
    attempt = EXCLUDED.attempt, tenant_id = EXCLUDED.tenant_id, kind = EXCLUDED.kind,
    ready_at = EXCLUDED.ready_at, worker_id = EXCLUDED.worker_id,
    lease_until = EXCLUDED.lease_until, claims = EXCLUDED.claims, fence = EXCLUDED.fence
"""

FENCE_SQLSTATE = "PF409"

_CHECK_FENCES = (
    "SELECT run_tasks_check_fences(%s::uuid[], %s::text[], %s::int[], %s::int[], %s::bigint[])"
)

class RecorderConfigError(EngineError):
    """The event store is configured in a way ``TaskRecorder`` cannot honour."""


def _fenced(exc: BaseException) -> bool:
    while exc is not None:
        if getattr(exc, "sqlstate", None) == FENCE_SQLSTATE:
            return True
        exc = exc.__cause__  # type: ignore[assignment]
    return False


_RELEASE = """
UPDATE run_tasks t SET worker_id = NULL, lease_until = NULL,
       ready_at = greatest(t.ready_at, now() + d.delay * interval '1 second')
FROM unnest(%s::uuid[], %s::text[], %s::int[], %s::float8[]) AS d(run_id, step_id, idx, delay)
WHERE t.run_id = d.run_id AND t.step_id = d.step_id AND t.idx = d.idx AND t.worker_id = %s
"""


class TaskRecorder(PostgresApplicationRecorder):
    """Writes a save's ``TaskChanges`` to ``run_tasks`` atomically with its events.

    ``record`` sends the whole transaction — ``BEGIN``, task changes, the table lock, the
    events, ``COMMIT`` — in ONE pipeline sync: one round trip per save instead of the library's
    two, and the events table's EXCLUSIVE lock is no longer held across a round trip to this
    (possibly busy) process while every other writer of the table waits for it. A failing
    statement (a version conflict) skips the rest, ``COMMIT`` included; the failed transaction
    is rolled back and the error raised as the library raises it. ``insert_events`` (the
    library's entry point, with its retries on a lost connection) hands over to ``record``.

    The library's database functions (``POSTGRES_ENABLE_DB_FUNCTIONS``) insert the events
    without the task changes: such a store is refused at construction.
    """

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        if datastore.enable_db_functions:
            raise RecorderConfigError(
                "the runs' recorder writes run_tasks in the events' transaction, which the "
                "library's database functions skip: unset POSTGRES_ENABLE_DB_FUNCTIONS"
            )
        super().__init__(datastore, events_table_name=events_table_name)

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        changes = kwargs.get("task_changes")
        if changes is None:
            changes = TaskChanges()
        elif not isinstance(changes, TaskChanges):
            raise TypeError(f"task_changes must be a TaskChanges, not {type(changes).__name__}")
        return self.record(stored_events, changes)

    def record(
        self, stored_events: Sequence[StoredEvent], changes: TaskChanges
    ) -> Sequence[int] | None:
        """Append the events and apply ``changes`` in one transaction (one round trip)."""
        try:
            return self._insert_pipelined(stored_events, changes)
        except Exception as e:
            if _fenced(e):
                raise FencedError(str(e.__cause__ or e)) from e
            raise

    def _insert_pipelined(
        self, stored_events: Sequence[StoredEvent], changes: TaskChanges
    ) -> Sequence[int] | None:
        exc: Exception | None = None
        notification_ids: Sequence[int] | None = None
        with self.datastore.get_connection() as conn:
            with conn.pipeline() as pipeline:
                try:
                    with conn.cursor() as curs:
                        curs.execute("BEGIN")
                        _write_tasks(curs, changes)
                    with conn.cursor() as curs, conn.cursor() as end:
                        if stored_events:
                            self._insert_stored_events(curs, stored_events)
                        end.execute("COMMIT")
                        pipeline.sync()
                        if stored_events:
                            notification_ids = self._fetch_ids_after_insert_events(
                                curs, stored_events
                            )
                except Exception as e:
                    exc = e  # raised outside the pipeline (as the library does)
                    with contextlib.suppress(psycopg.Error):
                        pipeline.sync()  # collect what the error aborted (COMMIT included)
            if exc is not None:
                if conn.pgconn.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                    with contextlib.suppress(psycopg.Error):
                        conn.rollback()
                raise exc
        return notification_ids


def _write_tasks(curs: Cursor[DictRow], changes: TaskChanges) -> None:
    """The statements of ``changes`` (fences first: they lock the rows until the commit)."""
    fences, done, add = changes.fences, changes.done, changes.add
    if fences:
        curs.execute(
            _CHECK_FENCES,
            (
                [k[0] for k, _, _ in fences], [k[1] for k, _, _ in fences],
                [_idx(k[2]) for k, _, _ in fences], [a for _, a, _ in fences],
                [t for _, _, t in fences],
            ),
        )  # fmt: skip
    if done:
        rows = sorted(done, key=lambda t: (str(t.run_id), t.step_id, _idx(t.index)))
        curs.execute(
            _DELETE,
            (
                [t.run_id for t in rows], [t.step_id for t in rows],
                [_idx(t.index) for t in rows], [t.attempt for t in rows],
            ),
        )  # fmt: skip
    if add:
        flags = [changes.lease_to is not None and t.key in changes.leased for t in add]
        curs.execute(
            _INSERT,
            (
                changes.lease_to, changes.lease_s,
                [t.run_id for t in add], [t.step_id for t in add],
                [_idx(t.index) for t in add], [t.attempt for t in add],
                [t.tenant_id for t in add], [t.kind for t in add],
                [t.ready_at for t in add], flags,
            ),
        )  # fmt: skip
        if not all(flags):
            curs.execute(f"NOTIFY {CHANNEL}")
    release = changes.release
    if release and changes.lease_to is not None:
        curs.execute(
            _RELEASE,
            (
                [k[0] for k, _ in release], [k[1] for k, _ in release],
                [_idx(k[2]) for k, _ in release], [d for _, d in release], changes.lease_to,
            ),
        )  # fmt: skip
        curs.execute(f"NOTIFY {CHANNEL}")


# ------------------------------------------------------------------------------ claiming


# Fair claim: among ready rows (not leased, or lease expired), rank each tenant's rows and add
# the tenant's leases already running anywhere; take the lowest loads first (round robin across
# tenants) and never above the per-tenant cap.
_CLAIM = """
WITH cand AS (
    SELECT run_id, step_id, idx, tenant_id, ready_at FROM run_tasks
    WHERE ready_at <= now() AND (lease_until IS NULL OR lease_until < now())
    ORDER BY ready_at LIMIT %(scan)s
    FOR UPDATE SKIP LOCKED
), busy AS (
    SELECT tenant_id, count(*) AS n FROM run_tasks
    WHERE lease_until >= now() AND tenant_id IN (SELECT tenant_id FROM cand)
    GROUP BY tenant_id
), ranked AS (
    SELECT c.run_id, c.step_id, c.idx, c.ready_at,
           row_number() OVER (PARTITION BY c.tenant_id ORDER BY c.ready_at)
             + coalesce(b.n, 0) AS load
    FROM cand c LEFT JOIN busy b USING (tenant_id)
), chosen AS (
    SELECT run_id, step_id, idx FROM ranked WHERE load <= %(cap)s
    ORDER BY load, ready_at LIMIT %(n)s
)
UPDATE run_tasks t
SET worker_id = %(worker)s, lease_until = now() + %(lease)s * interval '1 second',
    claims = t.claims + 1, fence = nextval('run_task_fences')
FROM chosen c
WHERE t.run_id = c.run_id AND t.step_id = c.step_id AND t.idx = c.idx
RETURNING t.run_id, t.step_id, t.idx, t.attempt, t.tenant_id, t.kind, t.ready_at, t.claims,
          t.fence
"""

_NEXT_DUE = """
SELECT extract(epoch FROM least(
    (SELECT min(ready_at) FROM run_tasks WHERE lease_until IS NULL),
    (SELECT min(lease_until) FROM run_tasks WHERE lease_until IS NOT NULL)) - now())
"""

_HEARTBEAT = """
UPDATE run_tasks t SET lease_until = now() + %s * interval '1 second'
FROM unnest(%s::uuid[], %s::text[], %s::int[], %s::bigint[]) AS d(run_id, step_id, idx, fence)
WHERE t.run_id = d.run_id AND t.step_id = d.step_id AND t.idx = d.idx AND t.worker_id = %s
  AND t.fence = d.fence
RETURNING t.run_id, t.step_id, t.idx
"""

_FENCES = """
SELECT t.run_id, t.step_id, t.idx, t.attempt, t.fence
FROM run_tasks t JOIN unnest(%s::uuid[], %s::text[], %s::int[]) AS d(run_id, step_id, idx)
  ON t.run_id = d.run_id AND t.step_id = d.step_id AND t.idx = d.idx
"""


def _key(run_id: Any, step_id: str, idx: int) -> TaskKey:
    return (run_id, step_id, None if idx == NO_INDEX else idx)


class PgSession:
    """One connection of a worker thread to ``run_tasks`` (``QueueSession``)."""

    def __init__(self, conninfo: str, *, listen: bool = False) -> None:
        self.conn = psycopg.connect(conninfo, autocommit=True)
        if listen:
            self.conn.execute(f"LISTEN {CHANNEL}")

    @property
    def closed(self) -> bool:
        return self.conn.closed

    def claim(self, worker_id: str, n: int, *, lease_s: float, tenant_cap: int) -> list[Claimed]:
        """Lease up to ``n`` ready tasks (SKIP LOCKED: workers never wait on each other)."""
        params = {"scan": max(4 * n, 32), "n": n, "cap": tenant_cap, "worker": worker_id,
                  "lease": lease_s}  # fmt: skip
        rows = self.conn.execute(_CLAIM, params).fetchall()
        return [Claimed(*_key(r[0], r[1], r[2]), r[3], r[4], r[5], r[6], r[7], r[8]) for r in rows]

    def next_due_s(self) -> float | None:
        row = self.conn.execute(_NEXT_DUE).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def wait(self, timeout_s: float) -> None:
        for _ in self.conn.notifies(timeout=timeout_s, stop_after=1):
            pass
        for _ in self.conn.notifies(timeout=0.0):
            pass  # drain what already arrived: one claim answers them all

    def heartbeat(
        self, worker_id: str, leases: Mapping[TaskKey, int], lease_s: float
    ) -> set[TaskKey]:
        """Extend the leases (key -> fencing token) this worker still holds; returns their keys
        (a lease missing from the answer was lost: claimed again, or its attempt is gone)."""
        if not leases:
            return set()
        ks = list(leases)
        rows = self.conn.execute(
            _HEARTBEAT,
            (lease_s, [k[0] for k in ks], [k[1] for k in ks], [_idx(k[2]) for k in ks],
             [leases[k] for k in ks], worker_id),
        ).fetchall()  # fmt: skip
        return {_key(r[0], r[1], r[2]) for r in rows}

    def close(self) -> None:
        with contextlib.suppress(psycopg.Error):
            self.conn.close()


class PgTaskQueue:
    """The ``TaskQueue`` port on ``run_tasks``: sessions of their own, fences read through the
    runs' event store pool (``datastore``)."""

    def __init__(self, conninfo: str, datastore: PostgresDatastore | None = None) -> None:
        self.conninfo = conninfo
        self.datastore = datastore

    def session(self, *, listen: bool = False) -> PgSession:
        return PgSession(self.conninfo, listen=listen)

    def current_fences(self, keys: Collection[TaskKey]) -> dict[TaskKey, tuple[int, int]]:
        if not keys:
            return {}
        ks = list(keys)
        params = ([k[0] for k in ks], [k[1] for k in ks], [_idx(k[2]) for k in ks])
        if self.datastore is None:
            with psycopg.connect(self.conninfo, autocommit=True) as own:
                rows = own.execute(_FENCES, params).fetchall()
        else:
            with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
                rows = cur.execute(_FENCES, params).fetchall()  # the pool's rows are dicts
        return {_key(r[0], r[1], r[2]): (r[3], r[4]) for r in rows}

    def release(self, worker_id: str, keys: Collection[TaskKey]) -> None:
        if not keys:
            return
        ks = list(keys)
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            conn.execute(
                _RELEASE,
                ([k[0] for k in ks], [k[1] for k in ks], [_idx(k[2]) for k in ks],
                 [0.0] * len(ks), worker_id),
            )  # fmt: skip
            conn.execute(f"NOTIFY {CHANNEL}")


# ------------------------------------------------------------------------------ rebuild


def rebuild_run_tasks(runs: Runs, conninfo: str) -> int:
    """Recompute ``run_tasks`` from the events (if the table was lost or doubted).

    Every run that is not finished is loaded and its implied tasks are written; rows of runs
    that imply none are deleted. Leases are dropped: running attempts are taken again.
    Returns the number of task rows written. Safe while workers run (at-least-once anyway).
    """
    with psycopg.connect(conninfo, autocommit=True) as conn:
        ids = [r[0] for r in conn.execute("SELECT DISTINCT originator_id FROM runs_events")]
        written = 0
        for run_id in ids:
            try:
                run = runs.load(run_id)
            except Exception:
                log.warning("rebuild_run_tasks: cannot load %s", run_id, exc_info=True)
                continue
            tasks = list(run_tasks(run).values())
            with conn.transaction():
                conn.execute("DELETE FROM run_tasks WHERE run_id = %s", (run_id,))
                for t in tasks:
                    conn.execute(
                        "INSERT INTO run_tasks (run_id, step_id, idx, attempt, tenant_id, kind,"
                        " ready_at) VALUES (%s, %s, %s, %s, %s, %s, coalesce(%s, now()))",
                        (t.run_id, t.step_id, _idx(t.index), t.attempt, t.tenant_id, t.kind,
                         t.ready_at),
                    )  # fmt: skip
            written += len(tasks)
        conn.execute(f"NOTIFY {CHANNEL}")
    return written
