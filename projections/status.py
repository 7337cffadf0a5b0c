"""Where each projection stands: lag behind the events' head, and read-your-writes waits."""

from __future__ import annotations

import time
from typing import Any

import psycopg
from psycopg import sql

# projection name -> (tracking table, applications it follows)
TRACKED: dict[str, tuple[str, tuple[str, ...]]] = {
    "readmodel": ("readmodel_tracking", ("platform", "runs")),
    "outbox": ("outbox_tracking", ("platform",)),
}


def _head(conn: psycopg.Connection[Any], app: str) -> int:
    table = f"{app}_events"
    if conn.execute("SELECT to_regclass(%s)", (table,)).fetchone() in (None, (None,)):
        return 0
    row = conn.execute(
        sql.SQL("SELECT coalesce(max(notification_id), 0) FROM {}").format(sql.Identifier(table))
    ).fetchone()
    return int(row[0]) if row else 0


def _position(conn: psycopg.Connection[Any], tracking_table: str, app: str) -> int:
    if conn.execute("SELECT to_regclass(%s)", (tracking_table,)).fetchone() in (None, (None,)):
        return 0
    row = conn.execute(
        sql.SQL(
            "SELECT coalesce(max(notification_id), 0) FROM {} WHERE lower(application_name) = %s"
        )
        .format(sql.Identifier(tracking_table)),
        (app,),
    ).fetchone()
    return int(row[0]) if row else 0


def projection_lag(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    """``{projection: {app: events behind the head}}``."""
    heads: dict[str, int] = {}
    out: dict[str, Any] = {}
    for name, (tracking_table, apps) in TRACKED.items():
        out[name] = {}
        for app in apps:
            if app not in heads:
                heads[app] = _head(conn, app)
            out[name][app] = max(0, heads[app] - _position(conn, tracking_table, app))
    return out


def wait_for(
    conninfo: str, app: str, notification_id: int, *, timeout: float, projection: str = "readmodel"
) -> bool:
    """Block until ``projection`` has applied ``app``'s event ``notification_id``."""
    tracking_table = TRACKED[projection][0]
    deadline = time.monotonic() + timeout
    delay = 0.002
    with psycopg.connect(conninfo, autocommit=True) as conn:
        while True:
            if _position(conn, tracking_table, app) >= notification_id:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
