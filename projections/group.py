"""The projection runners of one process on one thread and ONE session connection.

A ``ProjectionRunner`` started alone holds a session connection of its own (its leadership
lock and its LISTEN): five runners, five connections. A group keeps the same rules on one
connection: it takes each runner's session-level advisory lock on it (a runner whose lock
another process holds stands by and is tried again every second), LISTENs there to the
events tables' channels, and applies the runners it leads in turn. Correctness does not rest
on the leadership (see ``projections.view``): every batch is fenced in its own transaction.

Supervision: an error of one projection (an event it cannot apply) pauses that runner with a
growing back-off (up to 30 s; ``projection_failures`` shows it) and never the others; a lost
connection is made again at most ``RECONNECT_MAX_S`` apart, so projections resume within that
of the database coming back.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any

import psycopg
from eventsourcing import persistence as es
from psycopg import sql
from tenacity import RetryCallState

from projections.looping import LoopThread, failure
from projections.runner import ProjectionRunner

log = logging.getLogger(__name__)

RECONNECT_MIN_S = 0.1
RECONNECT_MAX_S = 1.0
EVENT_RETRY_MAX_S = 30.0
STANDBY_RETRY_S = 1.0

_CONNECTION_ERRORS = (psycopg.OperationalError, psycopg.InterfaceError, es.OperationalError,
                      es.InterfaceError)  # fmt: skip


class ProjectorGroup(LoopThread):
    """Runs ``runners`` until stopped; ``conninfo`` (system role) is the session connection."""

    def __init__(
        self,
        runners: Sequence[ProjectionRunner],
        conninfo: str,
        *,
        idle_wait_s: float = 0.5,
        connect_timeout_s: float = 2.0,
    ) -> None:
        self.runners = list(runners)
        self.conninfo = conninfo
        self.idle_wait_s = idle_wait_s
        self.connect_timeout_s = connect_timeout_s
        self.error: BaseException | None = None
        self.connected = False
        super().__init__()
        self._paused: dict[int, tuple[float, float]] = {}  # runner -> (until, last delay)

    def _thread_name(self) -> str:
        return "projector-group"

    def liveness(self) -> dict[str, Any]:
        """Seconds since the group's loop last went round (connected or reconnecting), and
        whether its thread is alive; a thread that died anyway is started again here."""
        if self._thread is not None and not self._thread.is_alive() and not self._stop.is_set():
            log.error("projector group: thread died; starting it again")
            self.start()
        age = time.monotonic() - self.last_beat
        alive = self.running
        ok = alive and age <= max(60.0, 4 * self.idle_wait_s)
        names = ",".join(f"{r.projection.name}:{r.app.name}" for r in self.runners)
        return {"projector": f"group({names})", "ok": ok, "connected": self.connected,
                "loops": {"project": {"last_beat_s": round(age, 3), "alive": alive, "ok": ok}}}

    def _loop(self) -> None:
        sessions = self._retrying(first_s=RECONNECT_MIN_S, max_s=RECONNECT_MAX_S,
                                  on_retry=self._reconnecting)  # fmt: skip
        while not self._stop.is_set():
            sessions(self._session)
        self.connected = False

    def _session(self) -> None:
        """Connect, then lead the runners until stopped (or the connection is lost: raised)."""
        self.last_beat = time.monotonic()
        if self._stop.is_set():
            return
        conn = psycopg.connect(
            self.conninfo, autocommit=True, connect_timeout=max(1, round(self.connect_timeout_s))
        )
        try:
            if self.error is not None:
                log.info("projector: database connection back")
            self.connected, self.error = True, None
            self._lead(conn)
        finally:
            with contextlib.suppress(Exception):
                conn.close()

    def _reconnecting(self, retry_state: RetryCallState) -> None:
        """The connection (or something unexpected): start over."""
        exc = failure(retry_state)
        self.connected, self.error = False, exc
        log.warning("projector: %s: %s; reconnecting in %.1fs",
                    type(exc).__name__, exc, retry_state.upcoming_sleep)  # fmt: skip

    def _lead(self, conn: psycopg.Connection[Any]) -> None:
        led: set[int] = set()
        listening: set[str] = set()
        next_try = 0.0
        while not self._stop.is_set():
            self.last_beat = time.monotonic()
            if len(led) < len(self.runners) and time.monotonic() >= next_try:
                for i, runner in enumerate(self.runners):
                    if i in led:
                        continue
                    row = conn.execute(
                        "SELECT pg_try_advisory_lock(%s)", (runner.lock_key,)
                    ).fetchone()
                    if not (row and row[0]):
                        continue  # another process leads it: stand by
                    led.add(i)
                    channel = getattr(runner.app.recorder, "channel_name", None)
                    if channel and channel not in listening:
                        conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                        listening.add(channel)
                next_try = time.monotonic() + STANDBY_RETRY_S
            applied = 0
            for i in sorted(led):
                applied += self._step(i)
            conn.execute("SELECT 1")  # a dead session shows here, not only while idle
            if not applied:
                for _ in conn.notifies(timeout=self.idle_wait_s, stop_after=1):
                    pass

    def _step(self, i: int) -> int:
        """One batch of runner ``i``; its own failure pauses it, a lost connection is raised."""
        until, last = self._paused.get(i, (0.0, 0.0))
        if until > time.monotonic():
            return 0
        runner = self.runners[i]
        try:
            applied = runner.run_once()
        except _CONNECTION_ERRORS:
            raise
        except Exception as exc:
            wait = min(max(last * 2, self.idle_wait_s), EVENT_RETRY_MAX_S)
            self._paused[i] = (time.monotonic() + wait, wait)
            runner.error = exc
            log.exception("projection %s of %s failed; retrying in %.1fs",
                          runner.projection.name, runner.app.name, wait)  # fmt: skip
            return 0
        self._paused.pop(i, None)
        runner.error = None
        return applied
