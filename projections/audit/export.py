"""A tenant's audit trail as NDJSON CloudEvents (JSON format, spec 1.0), streamed.

Each line is one event: ``specversion``, ``id`` (the audit row id), ``source``
(``/platinum/<application>``), ``type`` (``com.platinum.<Aggregate>.<Event>``), ``subject``
(``<resource_type>/<resource_id>``), ``time`` (RFC 3339 UTC), ``datacontenttype``, ``data``
(the event payload, credentials redacted) and extension attributes carrying the actor and the
chain (``platinumseq``, ``platinumprevhash``, ``platinumhash``), so an export can be checked
against ``verify`` heads later.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any
from uuid import UUID

import psycopg
from psycopg.rows import tuple_row

# PostgreSQL renders each CloudEvent itself (one text column per row): the export then costs
# Python one write per event. The line is concatenated text, not ``jsonb_build_object``: jsonb
# would parse, sort and re-render every object (about half the export's time). Strings a
# writer could choose go through ``to_json`` (JSON escaping); ids, hashes and numbers cannot
# hold a quote. Optional actor attributes are omitted when NULL (``coalesce`` of a NULL
# concatenation); ``data`` is the stored jsonb as it is.
_QUERY = """
    SELECT '{"specversion":"1.0","id":"' || id
        || '","source":' || to_json('/platinum/' || source)::text
        || ',"type":' || to_json('com.platinum.' || action)::text
        || ',"subject":' || to_json(resource_type || '/' || coalesce(resource_id, ''))::text
        || ',"time":"'
        || to_char("timestamp" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
        || '","datacontenttype":"application/json"'
        || coalesce(',"tenantid":"' || tenant_id || '"', '')
        || ',"aggregateid":"' || originator_id
        || '","aggregateversion":' || originator_version
        || ',"platinumseq":' || seq
        || ',"platinumprevhash":"' || prev_hash
        || '","platinumhash":"' || hash || '"'
        || coalesce(',"actorid":"' || user_id || '"', '')
        || coalesce(',"actorkind":' || to_json(actor_kind)::text, '')
        || coalesce(',"actorip":"' || host(ip_address) || '"', '')
        || coalesce(',"useragent":' || to_json(user_agent)::text, '')
        || coalesce(',"requestid":' || to_json(request_id)::text, '')
        || ',"data":' || coalesce(details::text, 'null') || '}'
      FROM audit_events
     WHERE tenant_id = %s
     ORDER BY source, seq
"""


def iter_cloudevents(
    conn: psycopg.Connection[Any], tenant_id: UUID | str, *, batch: int = 5000
) -> Iterator[str]:
    """NDJSON lines (each ending in a newline) of the tenant's audit events, in chain order.

    Streams through a server-side cursor: constant memory whatever the size. Fenced twice:
    by the explicit ``tenant_id`` filter and, on the API's role, by row-level security.
    """
    with conn.transaction(), conn.cursor(name="audit_export", row_factory=tuple_row) as cur:
        cur.itersize = batch
        cur.execute(_QUERY, (str(tenant_id),))
        for (line,) in cur:
            yield line + "\n"


def export_events(conn: psycopg.Connection[Any], tenant_id: UUID | str, out: IO[str]) -> int:
    """Write the tenant's NDJSON export to ``out``; returns how many events."""
    n = 0
    for line in iter_cloudevents(conn, tenant_id):
        out.write(line)
        n += 1
    return n
