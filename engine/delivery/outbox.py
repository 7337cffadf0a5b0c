"""The dispatcher's side of ``notification_outbox``: claim with a lease, finish, retry, release.

Every statement is a single autocommitted statement, so a dispatcher that dies holds nothing
but leases, and a lease simply runs out.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row

PRIORITY_NAMES = ("urgent", "high", "medium", "low")
LISTEN_CHANNEL = "notification_outbox"

_CLAIM = """
WITH picked AS (
    SELECT id FROM notification_outbox
    WHERE not_before <= now()
      AND (lease_until IS NULL OR lease_until < now())
      AND NOT (tenant_id = ANY(%(skip)s::uuid[]))
      AND (%(only)s::uuid[] IS NULL OR tenant_id = ANY(%(only)s::uuid[]))
    ORDER BY priority, event_position
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE notification_outbox o
SET status = 'leased', worker = %(worker)s, updated_at = now(),
    lease_until = now() + %(lease)s * interval '1 second'
FROM picked WHERE o.id = picked.id
RETURNING o.id, o.tenant_id, o.notification_id, o.channel, o.priority, o.attempts,
          o.event_position
"""


# A token bucket in one row, in one statement: a new tenant's bucket starts full (minus the
# token taken); an existing one is refilled by the time elapsed (capped at the burst), then a
# token is taken if there is one. The clock is read once. ON CONFLICT DO UPDATE locks the row
# and computes from its latest version, so a concurrent dispatcher waits and then recomputes
# from the row the other left: no token is spent twice. ``last_wait_s``: what to wait (0: taken).
_BUCKET_TAKE = """
    INSERT INTO delivery_rate_buckets AS b (tenant_id, tokens, updated_at, last_wait_s)
    VALUES (%(tenant)s, %(burst)s - 1, clock_timestamp(), 0.0)
    ON CONFLICT (tenant_id) DO UPDATE
    SET (tokens, last_wait_s, updated_at) = (
        SELECT CASE WHEN l.level >= 1 - 1e-9 THEN greatest(0.0, l.level - 1) ELSE l.level END,
               CASE WHEN l.level >= 1 - 1e-9 THEN 0.0
                    WHEN %(rate)s <= 0 THEN 3600.0
                    ELSE (1 - l.level) / %(rate)s END,
               l.now
          FROM (SELECT n.now, greatest(0.0, least(%(burst)s, b.tokens + greatest(0.0,
                       extract(epoch FROM n.now - b.updated_at)::float8) * %(rate)s)) AS level
                  FROM (SELECT clock_timestamp() AS now) n) l)
    RETURNING last_wait_s
"""


@dataclass(frozen=True)
class OutboxRow:
    """One claimed row: which notification, and how often it was tried before."""

    id: int
    tenant_id: UUID
    notification_id: UUID
    channel: str
    priority: int
    attempts: int
    event_position: int

    @property
    def priority_name(self) -> str:
        return PRIORITY_NAMES[self.priority] if 0 <= self.priority < 4 else "medium"


class OutboxStore:
    """SQL on ``notification_outbox`` over one async connection (system role)."""

    def __init__(
        self, conn: psycopg.AsyncConnection[dict[str, Any]], worker: str, conninfo: str = ""
    ) -> None:
        self.conn = conn
        self.worker = worker
        self.conninfo = conninfo
        self._listener: psycopg.AsyncConnection[Any] | None = None

    @classmethod
    async def connect(cls, conninfo: str, worker: str) -> OutboxStore:
        conn = await psycopg.AsyncConnection.connect(
            conninfo, autocommit=True, row_factory=dict_row
        )
        return cls(conn, worker, conninfo)

    async def close(self) -> None:
        if self._listener is not None:
            await self._listener.close()
        await self.conn.close()

    async def claim(
        self,
        limit: int,
        lease_s: float,
        *,
        skip_tenants: Collection[UUID] = (),
        only_tenants: Collection[UUID] | None = None,
    ) -> list[OutboxRow]:
        """Lease up to ``limit`` due rows, most urgent first, then in the order requested."""
        cur = await self.conn.execute(
            _CLAIM,
            {
                "limit": limit,
                "lease": lease_s,
                "worker": self.worker,
                "skip": list(skip_tenants),
                "only": None if only_tenants is None else list(only_tenants),
            },
        )
        rows = [OutboxRow(**r) for r in await cur.fetchall()]
        return sorted(rows, key=lambda r: (r.priority, r.event_position))

    async def extend(self, ids: Iterable[int], lease_s: float) -> None:
        """Heartbeat: keep the leases of rows still being worked on."""
        await self.conn.execute(
            "UPDATE notification_outbox SET lease_until = now() + %s * interval '1 second'"
            " WHERE id = ANY(%s) AND worker = %s",
            (lease_s, list(ids), self.worker),
        )

    async def finish(self, row_id: int) -> None:
        """The notification reached a terminal state: the row has done its job."""
        await self.conn.execute("DELETE FROM notification_outbox WHERE id = %s", (row_id,))

    async def retry(self, row_id: int, delay_s: float, error: str) -> None:
        """A transient failure: count the attempt, release the lease, wait ``delay_s``."""
        await self.conn.execute(
            "UPDATE notification_outbox SET attempts = attempts + 1, last_error = %s,"
            " not_before = now() + %s * interval '1 second', lease_until = NULL,"
            " worker = NULL, status = 'queued', updated_at = now()"
            " WHERE id = %s AND worker = %s",
            (error[:1000], delay_s, row_id, self.worker),
        )

    async def defer(self, row_ids: Iterable[int], delay_s: float) -> None:
        """Give rows back untried (rate limit, shutdown): no attempt is counted."""
        await self.conn.execute(
            "UPDATE notification_outbox SET not_before = now() + %s * interval '1 second',"
            " lease_until = NULL, worker = NULL, status = 'queued', updated_at = now()"
            " WHERE id = ANY(%s) AND worker = %s",
            (delay_s, list(row_ids), self.worker),
        )

    async def take_token(self, tenant_id: UUID, rate: float, burst: float) -> float:
        """Take one of the tenant's tokens (``rate`` per second, ``burst`` saved up at most):
        0.0 if one was there, else the seconds until one will be. Shared by all dispatchers."""
        rate = float(rate) if math.isfinite(rate) and rate > 0 else 0.0  # 0: nothing goes
        burst = float(burst) if math.isfinite(burst) and burst > 1 else 1.0
        params = {"tenant": tenant_id, "rate": rate, "burst": burst}
        cur = await self.conn.execute(_BUCKET_TAKE, params)
        row = await cur.fetchone()
        assert row is not None
        return float(row["last_wait_s"])

    async def listen(self) -> None:
        """Subscribe, on a connection of its own, to the projection's new-rows NOTIFY."""
        self._listener = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True)
        await self._listener.execute(f"LISTEN {LISTEN_CHANNEL}")

    async def wait_for_rows(self, timeout_s: float) -> None:
        """Sleep until a new row is announced or ``timeout_s`` passes."""
        if self._listener is None:
            await asyncio.sleep(timeout_s)
            return
        async for _ in self._listener.notifies(timeout=timeout_s, stop_after=1):
            pass
