"""The event store's PostgreSQL factory: one bounded, checked, fail-fast pool per role and process.

The library's own factory gives every application (and every projection view) a pool of its
own, waits 30 s for a connection, re-connects with a back-off that grows past half a minute,
and retries each read ten times. Here (``PERSISTENCE_MODULE=api.persistence:Factory``):

- applications and views of one process that use the same credentials and pool settings share
  ONE datastore (one pool), counted by reference and closed with the last of them: the
  process's connection budget is a sum of a few pools (docs/scaling.md);
- a pooled connection is checked before it is lent (``POSTGRES_PRE_PING``), so a connection
  that a database restart killed is never handed to a request;
- a request waits at most ``PLATINUM_POOL_TIMEOUT`` seconds for a connection, a connection
  attempt lasts at most ``PLATINUM_CONNECT_TIMEOUT`` seconds, and the pool gives up a failed
  re-connection after ``PLATINUM_RECONNECT_TIMEOUT`` seconds, so the next request connects at
  once when the database is back instead of waiting for a back-off that grew during the outage;
- with ``PERSISTENCE_MODULE=api.persistence:FailFastFactory`` (the API's request path) the
  library's read and write retries are off: one layer retries (the client, told so by a 503
  with Retry-After), not three stacked ones.
"""

from __future__ import annotations

import select
import threading
from typing import Any

import psycopg
from eventsourcing.postgres import Factory as _LibraryFactory
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresDatastore,
)
from psycopg.pq import TransactionStatus

from engine.runtime.task_store import TaskRecorder

# the datastore settings of eventsourcing's environment, plus ours
_KEYS = (
    "POSTGRES_DBNAME", "POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_USER", "POSTGRES_PASSWORD",
    "POSTGRES_POOL_SIZE", "POSTGRES_MAX_OVERFLOW", "POSTGRES_CONNECT_TIMEOUT",
    "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT", "POSTGRES_PRE_PING", "POSTGRES_SCHEMA",
    "POSTGRES_LOCK_TIMEOUT", "POSTGRES_ENABLE_DB_FUNCTIONS", "POSTGRES_MAX_WAITING",
    "POSTGRES_CONN_MAX_AGE", "PLATINUM_POOL_TIMEOUT", "PLATINUM_CONNECT_TIMEOUT",
    "PLATINUM_RECONNECT_TIMEOUT",
)  # fmt: skip

_shared: dict[tuple[str | None, ...], tuple[PostgresDatastore, int]] = {}
_shared_lock = threading.Lock()


def check_cheaply(conn: psycopg.Connection[Any]) -> None:
    """A psycopg_pool ``check`` that refuses a connection the server closed, with no round trip.

    psycopg_pool's own ``check_connection`` sends an empty query each time a connection is lent:
    one more round trip per checkout, which cost the engine a third of its single-worker run
    throughput (docs/performance.md). An idle pooled connection has nothing to read: when its
    socket is readable, the server sent something unasked — on a restart or shutdown, the
    termination notice and end of file — so it is given up and the pool lends (or makes)
    another. Pooled connections never LISTEN, so a notification cannot be mistaken for it; a
    rare unasked message (a reported setting changing) only costs a reconnection.
    """
    if conn.closed or conn.broken:
        raise psycopg.OperationalError("the connection is closed")
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
    if poller.poll(0) or conn.info.transaction_status != TransactionStatus.IDLE:
        # closed here, so the pool sees it broken and makes a new one (a refused connection
        # that still looked idle would be put back and lent again)
        conn.close()
        raise psycopg.OperationalError("the server closed the connection")


def _no_retry(method: Any) -> Any:
    """The library method without its ``@retry`` wrapper (``functools.wraps`` keeps it)."""
    return getattr(method, "__wrapped__", method)


class FailFastAggregateRecorder(PostgresAggregateRecorder):
    """Snapshots etc., without the library's ten retries."""

    insert_events = _no_retry(PostgresAggregateRecorder.insert_events)
    select_events = _no_retry(PostgresAggregateRecorder.select_events)


class FailFastApplicationRecorder(PostgresApplicationRecorder):
    """The application recorder without the library's ten retries."""

    insert_events = _no_retry(PostgresApplicationRecorder.insert_events)
    select_events = _no_retry(PostgresApplicationRecorder.select_events)
    select_notifications = _no_retry(PostgresApplicationRecorder.select_notifications)
    max_notification_id = _no_retry(PostgresApplicationRecorder.max_notification_id)


class FailFastTaskRecorder(TaskRecorder):
    """The runs' recorder (events + ``run_tasks``) without the library's ten retries."""

    insert_events = _no_retry(TaskRecorder.insert_events)
    select_events = _no_retry(PostgresApplicationRecorder.select_events)
    select_notifications = _no_retry(PostgresApplicationRecorder.select_notifications)
    max_notification_id = _no_retry(PostgresApplicationRecorder.max_notification_id)


FAIL_FAST_TASK_RECORDER_TOPIC = "api.persistence:FailFastTaskRecorder"


class SharedDatastore(PostgresDatastore):
    """A datastore that knows it was closed (by its last factory, or directly by a user)."""

    is_closed = False

    def close(self) -> None:
        self.is_closed = True
        super().close()


class Factory(_LibraryFactory):
    """``eventsourcing.postgres.Factory`` with shared, bounded, checked pools (see above)."""

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        own = self.datastore
        self._key = tuple(self.env.get(k) for k in _KEYS)
        with _shared_lock:
            found = _shared.get(self._key)
            if found is None or getattr(found[0], "is_closed", False):  # closed directly
                own.__class__ = SharedDatastore
                self._configure(own)
                _shared[self._key] = (own, 1)
            else:
                self.datastore = found[0]
                _shared[self._key] = (found[0], found[1] + 1)
        if self.datastore is not own:
            own.close()  # never opened: it holds no connection
        self._closed = False

    def _configure(self, datastore: PostgresDatastore) -> None:
        pool = datastore.pool
        # the library's pre-ping is psycopg_pool's round-trip check; ours sees a closed
        # connection without one. The pool takes ``check`` only when made (by the library), so
        # its attribute is set here; fail loudly if psycopg_pool ever renames it.
        if not hasattr(pool, "_check"):  # pragma: no cover - a psycopg_pool change
            raise RuntimeError("psycopg_pool.ConnectionPool has no _check: update check_cheaply")
        pool._check = check_cheaply
        pool_timeout = self.env.get("PLATINUM_POOL_TIMEOUT")
        if pool_timeout:
            pool.timeout = float(pool_timeout)
        reconnect = self.env.get("PLATINUM_RECONNECT_TIMEOUT")
        if reconnect:
            pool.reconnect_timeout = float(reconnect)
        connect = self.env.get("PLATINUM_CONNECT_TIMEOUT")
        if connect and isinstance(pool.kwargs, dict):
            pool.kwargs["connect_timeout"] = max(1, round(float(connect)))  # libpq: whole seconds
        pool.name = f"events-{self.env.get('POSTGRES_USER')}"

    def close(self) -> None:
        if getattr(self, "_closed", True):
            return
        self._closed = True
        with _shared_lock:
            datastore, count = _shared.get(self._key, (self.datastore, 1))
            if datastore is not self.datastore:
                return super().close()
            if count > 1:
                _shared[self._key] = (datastore, count - 1)
                return None
            del _shared[self._key]
        return super().close()


class FailFastFactory(Factory):
    """The API's request path: no retries inside the library (the client retries on 503)."""

    aggregate_recorder_class = FailFastAggregateRecorder
    application_recorder_class = FailFastApplicationRecorder
