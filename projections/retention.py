"""The retention sweep: shreds the data of finished runs older than their tenant's setting.

One thread per process (started beside the audit checkpointer), borrowing an autocommit
system-role connection per pass. Each pass reads, for the tenants that set
``retention.run_data_days``, the runs whose data key still exists and that ended more than
that many days before now (the read model's ``runs.ended_at``), oldest first, and has the
``Runs`` application record ``Run.DataShredded`` and destroy the key
(``Runs.shred_run_data``, docs/erasure.md "Retention"). Several processes may sweep at once:
a run another process is shredding is skipped (its advisory lock is held), and the run's
optimistic concurrency records the event once even without the lock. A pass that fails (the
database away, a restart) is logged and the next pass borrows a new connection.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.rows import tuple_row

from domain.kernel.clock import utc_now
from domain.kernel.errors import DomainError
from domain.kernel.retention import RUN_DATA_DAYS
from domain.runs.application import Runs
from projections.looping import LoopThread

log = logging.getLogger(__name__)

LOCK_SPACE = 0x52455445  # "RETE": the advisory lock space of run shredding

# the live run keys of the tenants with a valid setting (a bad legacy value is ignored, never
# cast), whose run ended before the cutoff; through subject_keys_live_runs (api_0004)
_DUE = """
    SELECT k.subject_id, k.tenant_id, c.days
      FROM (SELECT tenant_id,
                   CASE WHEN jsonb_typeof(config_value) = 'number'
                         AND (config_value #>> '{}') ~ '^[0-9]{1,5}$'
                        THEN (config_value #>> '{}')::int END AS days
              FROM tenant_config WHERE config_key = %(key)s) c
      JOIN subject_keys k
        ON k.tenant_id = c.tenant_id AND k.kind = 'run' AND k.erased_at IS NULL
      JOIN runs r ON r.id = k.subject_id
     WHERE c.days > 0 AND r.ended_at < %(now)s - make_interval(days => c.days)
     ORDER BY r.ended_at
     LIMIT %(limit)s
"""


class RetentionSweep(LoopThread):
    """``RetentionSweep(runs, connect, clock=None)``: ``start()``, ``stop()``, ``liveness()``;
    ``run_once()`` is one pass (tests call it with their own clock)."""

    def __init__(
        self,
        runs: Runs,
        connect: Callable[[], AbstractContextManager[Any]],
        *,
        clock: Callable[[], datetime] | None = None,
        interval_s: float = 60.0,
        batch: int = 200,
    ) -> None:
        self.runs, self.connect = runs, connect
        self.clock = clock or utc_now
        self.interval_s, self.batch = interval_s, batch
        super().__init__()
        self.shredded = 0

    def _thread_name(self) -> str:
        return "retention-sweep"

    def liveness(self) -> dict[str, Any]:
        """When the loop last went round (connected or not), like the checkpointer's."""
        age = time.monotonic() - self.last_beat
        ok = self.running and age <= max(60.0, 4 * self.interval_s)
        loop = {"last_beat_s": round(age, 3), "alive": self.running, "ok": ok}
        return {"retention": "runs", "ok": ok, "loops": {"sweep": loop}}

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.shredded += self.run_once()
            except Exception as exc:  # the database away, a restart: try again next pass
                log.warning("retention: pass failed (%s: %s); retrying",
                            type(exc).__name__, exc)  # fmt: skip
            self.last_beat = time.monotonic()
            self._stop.wait(self.interval_s)

    def run_once(self) -> int:
        """One pass; returns how many runs' data it shredded (recorded ``Run.DataShredded``)."""
        shredded = 0
        with self.connect() as conn, conn.cursor(row_factory=tuple_row) as cur:
            params = {"key": RUN_DATA_DAYS, "now": self.clock(), "limit": self.batch}
            due = cur.execute(_DUE, params).fetchall()
            for run_id, tenant_id, days in due:
                if self._stop.is_set():
                    break
                with conn.transaction():
                    got = cur.execute("SELECT pg_try_advisory_xact_lock(%s, hashtext(%s))",
                                      (LOCK_SPACE, str(run_id))).fetchone()  # fmt: skip
                    if got and got[0] and self._shred(tenant_id, run_id, days):
                        shredded += 1
        return shredded

    def _shred(self, tenant_id: UUID, run_id: UUID, days: int) -> bool:
        try:
            return self.runs.shred_run_data(tenant_id, run_id, days)
        except DomainError as exc:  # e.g. a run the read model saw end, rerun since: next pass
            log.warning("retention: run %s not shredded: %s", run_id, exc)
            return False
