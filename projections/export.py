"""A tenant's audit trail as NDJSON CloudEvents (JSON format, spec 1.0), streamed.

Each line is one event: ``specversion``, ``id`` (the audit row id), ``source``
(``/platinum/<application>``), ``type`` (``com.platinum.<Aggregate>.<Event>``), ``subject``
(``<resource_type>/<resource_id>``), ``time`` (RFC 3339 UTC), ``datacontenttype``, ``data``
(the event payload, credentials redacted) and extension attributes carrying the actor and the
chain (``platinumseq``, ``platinumprevhash``, ``platinumhash``), so an export can be checked
against ``verify`` heads later.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row

_QUERY = """
    SELECT id, tenant_id, source, seq, prev_hash, hash, originator_id, originator_version,
           action, resource_type, resource_id, user_id, actor_kind, ip_address::text AS ip,
           user_agent, request_id,
           to_char("timestamp" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS time,
           details
      FROM audit_events
     WHERE tenant_id = %s
     ORDER BY source, seq
"""


def cloudevent(row: dict[str, Any]) -> dict[str, Any]:
    """One audit row as a CloudEvent (JSON format)."""
    ce: dict[str, Any] = {
        "specversion": "1.0",
        "id": str(row["id"]),
        "source": f"/platinum/{row['source']}",
        "type": f"com.platinum.{row['action']}",
        "subject": f"{row['resource_type']}/{row['resource_id']}",
        "time": row["time"],
        "datacontenttype": "application/json",
        "data": row["details"],
        "tenantid": str(row["tenant_id"]),
        "aggregateid": str(row["originator_id"]),
        "aggregateversion": row["originator_version"],
        "platinumseq": row["seq"],
        "platinumprevhash": row["prev_hash"],
        "platinumhash": row["hash"],
    }
    for attr, col in (
        ("actorid", "user_id"), ("actorkind", "actor_kind"), ("actorip", "ip"),
        ("useragent", "user_agent"), ("requestid", "request_id"),
    ):  # fmt: skip
        if row[col] is not None:
            ce[attr] = str(row[col])
    return ce


def iter_cloudevents(
    conn: psycopg.Connection[Any], tenant_id: UUID | str, *, batch: int = 1000
) -> Iterator[str]:
    """NDJSON lines (each ending in a newline) of the tenant's audit events, in chain order.

    Streams through a server-side cursor: constant memory whatever the size. Fenced twice:
    by the explicit ``tenant_id`` filter and, on the API's role, by row-level security.
    """
    with conn.transaction(), conn.cursor(name="audit_export", row_factory=dict_row) as cur:
        cur.itersize = batch
        cur.execute(_QUERY, (str(tenant_id),))
        for row in cur:
            yield json.dumps(cloudevent(row), ensure_ascii=False, separators=(",", ":")) + "\n"


def export_events(conn: psycopg.Connection[Any], tenant_id: UUID | str, out: IO[str]) -> int:
    """Write the tenant's NDJSON export to ``out``; returns how many events."""
    n = 0
    for line in iter_cloudevents(conn, tenant_id):
        out.write(line)
        n += 1
    return n
