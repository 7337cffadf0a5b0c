"""The checkpoint loop: signs each tenant's tree every N new rows or T seconds.

One thread per process, borrowing an autocommit system-role connection per pass (the
process's event-store pool: no connection of its own). Each pass finds the tenants whose
audit chains have grown past their latest checkpoint and signs those with ``rows`` new
rows, or any new row and a checkpoint older than ``seconds``. A tenant another process is
signing is skipped (its advisory lock is held). A pass that fails (the database away, a
restart) is logged and the next pass borrows a new connection: the loop outlives outages.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from psycopg.rows import tuple_row

from domain.audit.checkpoint import Signer
from projections.audit.tree import try_make_checkpoint
from projections.looping import LoopThread

log = logging.getLogger(__name__)

SOURCES = ("platform", "runs")

# per tenant: rows in its chains now (seq is gapless from 1), its tree size, the checkpoint's age
_PENDING = """
    SELECT t.id,
           (SELECT coalesce(sum((SELECT coalesce(max(a.seq), 0) FROM audit_events a
                                  WHERE a.tenant_id = t.id AND a.source = s.source)), 0)
              FROM unnest(%s::text[]) AS s(source)) AS rows,
           coalesce(c.tree_size, 0) AS tree_size,
           extract(epoch FROM now() - c.created_at) AS age
      FROM tenants t
      LEFT JOIN LATERAL (SELECT tree_size, created_at FROM audit_checkpoints k
                          WHERE k.tenant_id = t.id ORDER BY tree_size DESC LIMIT 1) c ON true
"""


def due(rows: int, tree_size: int, age: float | None, every_rows: int, every_s: float) -> bool:
    """Sign now? ``every_rows`` new rows, or new rows and an old (or no) checkpoint."""
    new = rows - tree_size
    if new <= 0:
        return False
    return new >= every_rows or age is None or age >= every_s


class Checkpointer(LoopThread):
    """The loop; ``start()``, ``stop()``, ``liveness()`` like the process's other services."""

    def __init__(
        self,
        connect: Callable[[], AbstractContextManager[Any]],
        signer: Callable[[], Signer],
        log_prefix: str,
        *,
        every_rows: int,
        every_s: float,
    ) -> None:
        self.connect, self.signer, self.log_prefix = connect, signer, log_prefix
        self.every_rows, self.every_s = every_rows, every_s
        self.interval = max(0.2, min(every_s / 2, 5.0))
        super().__init__()
        self.signed = 0

    def _thread_name(self) -> str:
        return "audit-checkpointer"

    def liveness(self) -> dict[str, Any]:
        """Like the projector group's: when the loop last went round (connected or not)."""
        age = time.monotonic() - self.last_beat
        alive = self.running
        ok = alive and age <= max(60.0, 4 * self.interval)
        loop = {"last_beat_s": round(age, 3), "alive": alive, "ok": ok}
        return {"checkpointer": "audit", "ok": ok, "loops": {"checkpoint": loop}}

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.signed += self.run_once()
            except Exception as exc:  # the database away, a restart: try again next pass
                log.warning("audit checkpoints: pass failed (%s: %s); retrying",
                            type(exc).__name__, exc)  # fmt: skip
            self.last_beat = time.monotonic()
            self._stop.wait(self.interval)

    def run_once(self) -> int:
        """One pass; returns how many checkpoints it signed."""
        signed = 0
        with self.connect() as conn, conn.cursor(row_factory=tuple_row) as cur:
            pending = cur.execute(_PENDING, (list(SOURCES),)).fetchall()
            for tenant_id, rows, size, age in pending:
                if self._stop.is_set():
                    break
                age_s = None if age is None else float(age)
                if not due(int(rows), int(size), age_s, self.every_rows, self.every_s):
                    continue
                if try_make_checkpoint(conn, tenant_id, self.signer(), self.log_prefix):
                    signed += 1
        return signed
