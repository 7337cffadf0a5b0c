"""The audit chain's verification: every row's hash, link and claimed event, recomputed.

A chain is one tenant's rows from one source application (``platform`` or ``runs``), ordered
by the events' notification ids: the order is the same whether the rows were written live,
after a crash, or by a rebuild. The database links each row (``seq``, ``prev_hash``, ``hash``)
as the audit projection (``projections.audit.projection``) inserts it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

import psycopg
from eventsourcing.persistence import StoredEvent, Tracking
from psycopg import sql
from psycopg.rows import dict_row, tuple_row
from psycopg.types.json import Jsonb

from projections.audit.projection import GENESIS, AuditProjection
from projections.batch import Cursor
from projections.jsonutil import dumps

# Keep identical to the migration's CANONICAL (test_audit proves they agree).
CANONICAL_SQL = """
    jsonb_build_object(
        'id', a.id,
        'tenant_id', a.tenant_id,
        'source', a.source,
        'seq', a.seq,
        'prev_hash', a.prev_hash,
        'notification_id', a.notification_id,
        'originator_id', a.originator_id,
        'originator_version', a.originator_version,
        'action', a.action,
        'resource_type', a.resource_type,
        'resource_id', a.resource_id,
        'user_id', a.user_id,
        'actor_kind', a.actor_kind,
        'ip_address', a.ip_address::text,
        'user_agent', a.user_agent,
        'request_id', a.request_id,
        'timestamp', to_char(a."timestamp" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'details', a.details
    )::text
"""

@dataclass(frozen=True)
class BrokenLink:
    id: str
    seq: int
    tenant_id: str | None
    source: str
    reason: str


@dataclass(frozen=True)
class VerifyResult:
    """``ok``; how many rows were checked; each chain's head; the first broken link."""

    ok: bool
    events: int
    head: dict[str, dict[str, Any]] = field(default_factory=dict)
    broken: BrokenLink | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class EventSource(Protocol):
    """The stored events an audit row claims to come from, decoded (decrypted) as stored."""

    def events_at(self, source: str, positions: Sequence[int]) -> dict[int, Any]:
        """``{notification_id: domain event}`` of ``source``'s events at these positions."""
        ...


class StoredEvents:
    """An ``EventSource`` over the applications' own stores (their mappers decrypt)."""

    def __init__(self, apps: Mapping[str, Any]) -> None:
        self.apps = apps

    def events_at(self, source: str, positions: Sequence[int]) -> dict[int, Any]:
        app = self.apps.get(source)
        if app is None or not positions:
            return {}
        recorder = app.recorder
        query = sql.SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state"
            " FROM {} WHERE notification_id = ANY(%s)"
        ).format(sql.Identifier(recorder.events_table_name))
        with recorder.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as c:
            c.execute(query, (list(positions),))
            rows = c.fetchall()
        return {
            # personal data as the audit row holds it: sealed tokens (docs/erasure.md)
            nid: getattr(app, "raw_mapper", app.mapper).to_domain_event(
                StoredEvent(oid, version, topic, bytes(state))
            )
            for nid, oid, version, topic, state in rows
        }


# what verification compares: the row's columns (in this order) against the projection's row
_CLAIMS = (
    "a.id, a.tenant_id, a.source, a.notification_id, a.originator_id, a.originator_version,"
    " a.action, a.resource_type, a.resource_id, a.user_id, a.actor_kind, host(a.ip_address),"
    ' a.user_agent, a.request_id, a."timestamp", a.details'
)
# their places in AuditProjection.row's tuple (id, tenant, source, -, -, notification_id, ...)
_ROW_PLACES = (0, 1, 2, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17)
_CLAIM_NAMES = (
    "id", "tenant_id", "source", "notification_id", "originator_id", "originator_version",
    "action", "resource_type", "resource_id", "user_id", "actor_kind", "ip_address",
    "user_agent", "request_id", "timestamp", "details",
)  # fmt: skip


def _chain_rows(
    conn: psycopg.Connection[Any], tenant_id: UUID | str | None, batch: int
) -> Iterator[tuple[Any, ...]]:
    where = "" if tenant_id is None else "WHERE a.tenant_id = %s"
    query = (
        f"SELECT a.id, a.tenant_id, a.source, a.seq, a.prev_hash, a.hash, {CANONICAL_SQL},"
        f" {_CLAIMS} FROM audit_events a {where} ORDER BY a.tenant_id, a.source, a.seq"
    )
    params = () if tenant_id is None else (str(tenant_id),)
    with conn.transaction(), conn.cursor(
        name="audit_verify", row_factory=tuple_row
    ) as cur:
        cur.itersize = batch
        cur.execute(query, params)
        yield from cur


def _batches(rows: Iterator[tuple[Any, ...]], n: int) -> Iterator[list[tuple[Any, ...]]]:
    chunk: list[tuple[Any, ...]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= n:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _same(claimed: Any, expected: Any) -> bool:
    if isinstance(expected, Jsonb):
        expected = json.loads(dumps(expected.obj))
    elif expected is not None and not isinstance(expected, datetime):
        expected, claimed = str(expected), None if claimed is None else str(claimed)
    return bool(claimed == expected)


def _event_mismatch(
    curs: Cursor, owners: dict[UUID, UUID | None], claims: tuple[Any, ...], event: Any
) -> str | None:
    """Why the row is not what the audit projection writes for ``event`` (None: it is)."""
    if event is None:
        return "no stored event at the row's position: the row was not written from an event"
    source, nid = claims[2], claims[3]
    tracking = Tracking(application_name=source, notification_id=nid)
    expected = AuditProjection().row(curs, owners, event, tracking, source)
    for name, place, claimed in zip(_CLAIM_NAMES, _ROW_PLACES, claims, strict=True):
        if not _same(claimed, expected[place]):
            return f"{name} differs from the stored event it claims to come from"
    return None


def verify_chain(
    conn: psycopg.Connection[Any],
    tenant_id: UUID | str | None = None,
    *,
    events: EventSource | None = None,
    batch: int = 2000,
    on_batch: Callable[[int], None] | None = None,
) -> VerifyResult:
    """Recompute every chain (one tenant's, or all the connection may see) and name the
    first broken link: a row whose hash does not match its contents, whose ``prev_hash`` is
    not the previous row's hash, or that follows a gap in ``seq`` (a deleted row). With
    ``events`` (the service always passes them), each row is also compared with the stored
    event at its position, decrypted: a row the projection would not have written from that
    event (a forged row, which the chain trigger links like any other) is a broken link.

    Streams with a server-side cursor: constant memory; events are fetched per ``batch``
    (``on_batch(rows)`` after each, for progress).
    Deleting a chain's LAST rows is not detectable from the chain alone; compare ``head``
    with a previously exported head.
    """
    count = 0
    head: dict[str, dict[str, Any]] = {}
    chain: tuple[Any, str] | None = None
    prev_hash, prev_seq = GENESIS, 0
    owners: dict[UUID, UUID | None] = {}
    lookup = conn.cursor(row_factory=dict_row)
    for rows in _batches(_chain_rows(conn, tenant_id, batch), batch):
        stored: dict[tuple[str, int], Any] = {}
        if events is not None:
            for source in {r[2] for r in rows}:
                found = events.events_at(source, [r[10] for r in rows if r[2] == source])
                stored.update({(source, nid): e for nid, e in found.items()})
        for row in rows:
            row_id, row_tenant, source, seq, row_prev, row_hash, canonical = row[:7]
            if (row_tenant, source) != chain:
                chain, prev_hash, prev_seq = (row_tenant, source), GENESIS, 0
            reason = None
            if seq != prev_seq + 1:
                reason = f"seq {seq} follows {prev_seq}: rows are missing"
            elif row_prev != prev_hash:
                reason = "prev_hash is not the previous row's hash"
            elif hashlib.sha256(canonical.encode()).hexdigest() != row_hash:
                reason = "hash does not match the row's contents"
            elif events is not None:
                claims = row[7:]
                reason = _event_mismatch(lookup, owners, claims, stored.get((source, claims[3])))
            if reason:
                tenant = None if row_tenant is None else str(row_tenant)
                broken = BrokenLink(str(row_id), seq, tenant, source, reason)
                return VerifyResult(ok=False, events=count, head=head, broken=broken)
            count += 1
            prev_hash, prev_seq = row_hash, seq
            key = source if tenant_id is not None else f"{row_tenant or 'platform'}/{source}"
            head[key] = {"seq": seq, "hash": row_hash}
        if on_batch is not None:
            on_batch(len(rows))
    return VerifyResult(ok=True, events=count, head=head)
