"""Fast history: real encoded events, copied into an events table in bulk.

A template of stored events (encoded by the application's own mapper: compressed, encrypted)
is replicated under fresh originator ids with ``COPY``. The mapper leaves originator id and
version out of ``state``, so a copy decodes as a real event of another aggregate.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

Template = Sequence[tuple[int, str, bytes]]  # (originator_version, topic, state) of one aggregate


def template_of(app: Any, aggregate: Any) -> list[tuple[int, str, bytes]]:
    """The stored form of an unsaved aggregate's pending events."""
    out = []
    for e in aggregate.collect_events():
        s = app.mapper.to_stored_event(e)
        out.append((s.originator_version, s.topic, s.state))
    return out


def stored_template(conninfo: str, table: str, originator_id: uuid.UUID) -> list[Any]:
    """The stored events of one saved aggregate (e.g. a finished run), as a template."""
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            sql.SQL("SELECT originator_version, topic, state FROM {} WHERE originator_id = %s"
                    " ORDER BY originator_version").format(sql.Identifier(table)),
            (originator_id,),
        ).fetchall()
    return [(int(v), str(t), bytes(s)) for v, t, s in rows]


def count(conninfo: str, table: str) -> int:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(
            sql.SQL("SELECT coalesce(max(notification_id), 0) FROM {}").format(
                sql.Identifier(table))
        ).fetchone()
    return int(row[0]) if row else 0


def copy_events(conninfo: str, table: str, template: Template, events: int) -> float:
    """Append about ``events`` events (whole template copies); returns events/s."""
    copies = max(1, events // len(template))
    t0 = time.perf_counter()
    stmt = sql.SQL(
        "COPY {} (originator_id, originator_version, topic, state) FROM STDIN"
    ).format(sql.Identifier(table))
    with psycopg.connect(conninfo) as conn:
        with conn.cursor() as cur, cur.copy(stmt) as copy:
            for _ in range(copies):
                oid = uuid.uuid4()
                for version, topic, state in template:
                    copy.write_row((oid, version, topic, state))
        conn.commit()
        conn.autocommit = True
        conn.execute(sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(table)))
    return copies * len(template) / (time.perf_counter() - t0)
