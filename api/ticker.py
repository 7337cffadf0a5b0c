"""The schedule ticker: a loop that starts each due tick's run of every active schedule.

It fires from the database: the active schedules are read from the read model (system role)
and the runs already started are the event store's (a tick's run id derives from its
idempotency key ``schedule:<id>:<tick>``, ``domain.triggers.firing.tick_key``). So a ticker
that restarts, or runs beside others, knows which ticks were fired without any state of its
own: on first sight of a schedule it looks back over the newest ``CATCHUP_LIMIT`` ticks for the
latest tick whose run exists, and goes on from there (``domain.triggers.firing.plan``).

Exactly one run per tick however many tickers run: the run id is the tick's, so a second
start of it is an idempotent replay, never a second run; a session advisory lock per
(schedule, tick) (``pg_try_advisory_lock``) keeps the others from even trying meanwhile. A
ticker whose database goes away logs, drops its connection and connects again at most 1 s
apart; its in-memory cursors are only a cache of what the event store says.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row

from api.telemetry import Telemetry, traced_start
from domain.kernel.clock import utc_now
from domain.kernel.errors import ConflictError, DomainError, NotFoundError
from domain.platform import Platform
from domain.runs.application import IdempotencyKeyReusedError, Runs, StartRun, run_id_for
from domain.triggers.cron import ticks_between
from domain.triggers.firing import CATCHUP_LIMIT, GRACE, plan, tick_key
from projections.looping import LoopThread
from projections.queries.schedules import active_schedules

log = logging.getLogger(__name__)


@dataclass
class _Cursor:
    since: datetime  # the schedule's active_since this cursor was made for
    tick: datetime  # the newest tick handled (fired, found fired, or skipped)
    last_run: UUID | None  # the newest run this schedule started (for the overlap policy)


def _lock_key(schedule_id: UUID, tick: datetime) -> int:
    digest = hashlib.blake2b(tick_key(schedule_id, tick).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class Ticker(LoopThread):
    """``Ticker(platform, runs, conninfo, clock=None)``: ``start()``, ``stop()``, ``liveness()``;
    ``tick_once(conn)`` is one pass (tests call it with their own clock)."""

    def __init__(
        self,
        platform: Platform,
        runs: Runs,
        conninfo: str,
        *,
        clock: Callable[[], datetime] | None = None,
        interval_s: float = 0.2,
        connect_timeout_s: float = 5.0,
        limit: int = CATCHUP_LIMIT,
        telemetry: Telemetry | None = None,
    ) -> None:
        super().__init__()
        self.platform, self.runs, self.conninfo = platform, runs, conninfo
        self.telemetry = telemetry  # tracing: each start in a ``run.start`` span
        self.clock = clock or utc_now
        self.interval_s, self.connect_timeout_s, self.limit = interval_s, connect_timeout_s, limit
        self.connected = False
        self.started = 0  # runs this ticker started (not replays)
        self._cursors: dict[UUID, _Cursor] = {}

    def _thread_name(self) -> str:
        return "platinum-ticker"

    def connect(self) -> psycopg.Connection[dict[str, Any]]:
        return psycopg.connect(
            self.conninfo, autocommit=True, row_factory=dict_row,
            connect_timeout=max(1, round(self.connect_timeout_s)),
        )  # fmt: skip

    def _loop(self) -> None:
        conn: psycopg.Connection[dict[str, Any]] | None = None
        while not self._stop.is_set():
            self.last_beat = time.monotonic()
            try:
                if conn is None or conn.closed:
                    conn = self.connect()
                self.connected = True
                self.tick_once(conn)
            except Exception as exc:  # the database away, or anything else: try again
                log.warning("ticker: pass failed (%s: %s); again in 1 s", type(exc).__name__, exc)
                self.connected = False
                if conn is not None:
                    conn.close()
                conn = None
                self._stop.wait(1.0)
                continue
            self._stop.wait(self.interval_s)
        if conn is not None:
            conn.close()

    def liveness(self) -> dict[str, Any]:
        """Seconds since the loop last went round; a thread that died is started again."""
        if self._thread is not None and not self._thread.is_alive() and not self._stop.is_set():
            log.error("ticker: thread died; starting it again")
            self.start()
        age = time.monotonic() - self.last_beat
        ok = self.running and age <= 60.0
        return {"ticker": "schedules", "ok": ok, "connected": self.connected,
                "loops": {"tick": {"last_beat_s": round(age, 3), "alive": self.running,
                                   "ok": ok}}}  # fmt: skip

    # -- one pass

    def tick_once(self, conn: psycopg.Connection[dict[str, Any]]) -> None:
        now = self.clock()
        rows = active_schedules(conn)
        for row in rows:
            try:
                self._schedule(conn, row, now)
            except psycopg.OperationalError:
                raise  # the ticker's own connection: reconnect
            except Exception as exc:  # one schedule's trouble does not stop the others
                log.warning("ticker: schedule %s: %s: %s", row["id"], type(exc).__name__, exc)
        live = {row["id"] for row in rows}
        for gone in set(self._cursors) - live:
            del self._cursors[gone]

    def _run_id(self, row: dict[str, Any], tick: datetime) -> UUID:
        key = tick_key(row["id"], tick)
        return run_id_for(str(row["tenant_id"]), str(row["workflow_id"]), key)

    def _exists(self, run_id: UUID) -> bool:
        return any(True for _ in self.runs.events.get(run_id, limit=1))

    def _cursor(self, row: dict[str, Any], now: datetime) -> _Cursor:
        """From the event store: the newest of the last ``limit`` ticks whose run exists."""
        since = row["active_since"]
        ticks, _ = ticks_between(row["cron"], row["timezone"], since, now, self.limit)
        for tick in reversed(ticks):
            run_id = self._run_id(row, tick)
            if self._exists(run_id):
                return _Cursor(since, tick, run_id)
        return _Cursor(since, since, None)

    def _schedule(self, conn: psycopg.Connection[dict[str, Any]], row: dict[str, Any],
                  now: datetime) -> None:  # fmt: skip
        cur = self._cursors.get(row["id"])
        if cur is None or cur.since != row["active_since"]:
            cur = self._cursors[row["id"]] = self._cursor(row, now)
        todo = plan(row["cron"], row["timezone"], row["catchup"], after=cur.tick, now=now,
                    limit=self.limit, grace=GRACE)  # fmt: skip
        fire = set(todo.fire)
        for tick in sorted(fire | set(todo.skip)):
            run_id = self._run_id(row, tick)
            if tick in fire and not self._exists(run_id):
                key = _lock_key(row["id"], tick)
                got = conn.execute("SELECT pg_try_advisory_lock(%s) AS got", (key,)).fetchone()
                if not got or not got["got"]:
                    return  # another ticker is firing this tick: look again next pass
                try:
                    if not self._exists(run_id):
                        self._fire(row, tick, cur)
                except DomainError as exc:  # e.g. an input the workflow now refuses: skipped
                    log.warning("ticker: schedule %s: tick %s not fired: %s", row["id"], tick, exc)
                finally:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
            if tick in fire and self._exists(run_id):
                cur.last_run = run_id
            cur.tick = tick

    def _fire(self, row: dict[str, Any], tick: datetime, cur: _Cursor) -> None:
        tenant_id, workflow_id = row["tenant_id"], row["workflow_id"]
        if not self.platform.get_tenant(tenant_id).is_active:
            return
        try:  # the event store, not the read model: a pause or change within its lag counts
            schedule = self.platform.get_schedule(tenant_id, row["id"])
        except NotFoundError:
            return  # deleted meanwhile
        if schedule.status != "active" or schedule.active_since != row["active_since"]:
            return  # paused, resumed or re-timed since the read model's row: not this tick
        workflow = self.platform.get_workflow(tenant_id, workflow_id)
        if workflow.status != "active":
            return  # a tick of a paused or archived workflow starts nothing
        if row["overlap"] != "allow" and cur.last_run is not None:
            previous = self.runs.load(cur.last_run)
            if not previous.is_done:
                if row["overlap"] == "skip":
                    return
                reason = f"superseded by schedule tick {tick.isoformat()}"
                with contextlib.suppress(ConflictError):  # it ended meanwhile
                    self.runs.cancel_run(tenant_id, previous.id, reason)
        stamp = tick.strftime("%Y-%m-%dT%H:%M:%SZ")
        try:
            started = traced_start(self.telemetry, self.runs.start,
                StartRun(
                    tenant_id=tenant_id, workflow_id=workflow_id,
                    workflow_version=workflow.current_version, definition=workflow.definition,
                    input=schedule.input, started_by=f"schedule:{row['id']}",
                    idempotency_key=tick_key(row["id"], tick),
                    trigger={"kind": "schedule", "id": str(row["id"]), "tick": stamp},
                )
            )  # fmt: skip
        except IdempotencyKeyReusedError:
            return  # another ticker started it with the schedule's previous input
        if not started.replayed:
            self.started += 1
