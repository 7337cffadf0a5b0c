"""A tenant's audit trail as NDJSON CloudEvents (JSON format, spec 1.0), streamed.

Each line is one event: ``specversion``, ``id`` (the audit row id), ``source``
(``/platinum/<application>``), ``type`` (``com.platinum.<Aggregate>.<Event>``), ``subject``
(``<resource_type>/<resource_id>``), ``time`` (RFC 3339 UTC), ``datacontenttype``, ``data``
(the event payload, credentials redacted) and extension attributes carrying the actor, the
chain (``platinumseq``, ``platinumprevhash``, ``platinumhash``), the event's position
(``platinumposition``) and the resource (``resourcetype``, ``resourceid``): every column of the
row's canonical JSON, so ``domain.audit.canonical`` rebuilds the row's hash and Merkle leaf
from the line alone. Lines come in the tenant's tree order and the export ends with the signed
checkpoint that covers exactly them (``iter_verifiable_export``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any
from uuid import UUID

import psycopg
from psycopg.rows import tuple_row

from domain.audit.canonical import checkpoint_line
from domain.audit.checkpoint import parse
from projections.audit.tree import StoredCheckpoint

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
        || ',"platinumposition":' || notification_id
        || ',"resourcetype":' || to_json(resource_type)::text
        || coalesce(',"resourceid":' || to_json(resource_id)::text, '')
        || coalesce(',"actorid":"' || user_id || '"', '')
        || coalesce(',"actorkind":' || to_json(actor_kind)::text, '')
        || coalesce(',"actorip":"' || host(ip_address) || '"', '')
        || coalesce(',"useragent":' || to_json(user_agent)::text, '')
        || coalesce(',"requestid":' || to_json(request_id)::text, '')
        || ',"data":' || coalesce(details::text, 'null') || '}'
      FROM audit_tree_leaves l
      JOIN audit_events a USING (tenant_id, source, seq)
     WHERE l.tenant_id = %s AND l.leaf_index < %s
     ORDER BY l.leaf_index
"""


def iter_cloudevents(
    conn: psycopg.Connection[Any], tenant_id: UUID | str, tree_size: int, *, batch: int = 5000
) -> Iterator[str]:
    """NDJSON lines (each ending in a newline) of the tenant's first ``tree_size`` audit rows
    in tree order (each chain in ``seq`` order).

    Streams through a server-side cursor: constant memory whatever the size. Fenced twice:
    by the explicit ``tenant_id`` filter and, on the API's role, by row-level security.
    """
    with conn.transaction(), conn.cursor(name="audit_export", row_factory=tuple_row) as cur:
        cur.itersize = batch
        cur.execute(_QUERY, (str(tenant_id), tree_size))
        for (line,) in cur:
            yield line + "\n"


def checkpoint_event(tenant_id: UUID | str, cp: StoredCheckpoint) -> str:
    """The export's last line: the checkpoint as a ``com.platinum.audit.Checkpoint`` event."""
    time = parse(cp.note)[0].time
    line = checkpoint_line(str(tenant_id), cp.tree_size, cp.root_hash, cp.key_id, cp.note, time)
    return line + "\n"


def iter_verifiable_export(
    conn: psycopg.Connection[Any], tenant_id: UUID | str, cp: StoredCheckpoint
) -> Iterator[str]:
    """Every row ``cp`` covers, in tree order, then ``cp`` itself as the last line."""
    yield from iter_cloudevents(conn, tenant_id, cp.tree_size)
    yield checkpoint_event(tenant_id, cp)


def export_events(
    conn: psycopg.Connection[Any], tenant_id: UUID | str, cp: StoredCheckpoint, out: IO[str]
) -> int:
    """Write the tenant's verifiable NDJSON export to ``out``; returns how many events."""
    for line in iter_verifiable_export(conn, tenant_id, cp):
        out.write(line)
    return cp.tree_size
