"""The read model's gauges for ``/metrics``, read across tenants by the system role."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import tuple_row


def _exists(cur: psycopg.Cursor[tuple[Any, ...]], table: str) -> bool:
    row = cur.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
    return bool(row and row[0])


def runs_by_status(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """How many runs are in each status (none before the read model exists)."""
    with conn.cursor(row_factory=tuple_row) as cur:
        if not _exists(cur, "runs"):
            return {}
        rows = cur.execute("SELECT status::text, count(*) FROM runs GROUP BY status").fetchall()
    return dict(rows)


def queue_depths(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """Work waiting to be picked up: steps pending or scheduled, notifications to deliver."""
    depths: dict[str, int] = {}
    with conn.cursor(row_factory=tuple_row) as cur:
        if _exists(cur, "run_steps"):
            row = cur.execute(
                "SELECT count(*) FROM run_steps WHERE status IN ('pending', 'scheduled')"
            ).fetchone()
            depths["steps"] = row[0] if row else 0
        if _exists(cur, "notification_outbox"):
            row = cur.execute("SELECT count(*) FROM notification_outbox").fetchone()
            depths["notifications"] = row[0] if row else 0
    return depths
