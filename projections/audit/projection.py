"""The audit projection: one audit row per domain event, built from the event alone.

Rows are written by ``AuditProjection`` only (its own tracking table, ``audit_tracking``); the
database assigns each row's place in its chain (``seq``, ``prev_hash``, ``hash``: see the
migration ``readmodel_0003_audit`` and ``projections.audit.chain``). The log is append-only: a
rebuild keeps it, and only its owner can empty it (``reset_audit_log``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from typing import Any
from uuid import UUID, uuid5

import psycopg
from eventsourcing.persistence import Tracking
from psycopg import sql

from domain.kernel.secrets import redact
from domain.kernel.shredding import is_token
from projections.batch import Cursor
from projections.jsonutil import jsonb, text

AUDIT_NAMESPACE = UUID("0b4f7a52-3c1e-5d8e-9f61-2a7d4c9e1b30")
GENESIS = "0" * 64

_ENVELOPE = frozenset(
    {"originator_id", "originator_version", "timestamp", "meta", "originator_topic"}
)

_INSERT = (
    "INSERT INTO audit_events (id, tenant_id, source, seq, prev_hash, hash, notification_id,"
    " originator_id, originator_version, action, resource_type, resource_id, user_id,"
    " actor_kind, ip_address, user_agent, request_id, \"timestamp\", details)"
    " VALUES (%s, %s, %s, 0, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


def snake(name: str) -> str:
    """``MarketplaceSkill`` -> ``marketplace_skill``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def audit_id(source: str, originator_id: UUID, originator_version: int) -> UUID:
    """The audit row's id (also the CloudEvents id): derived from the event, so stable."""
    return uuid5(AUDIT_NAMESPACE, f"{source}:{originator_id}:{originator_version}")


def _uuid(value: Any) -> UUID | None:
    if value is None or isinstance(value, UUID):
        return value
    try:
        return UUID(str(value))
    except ValueError:
        return None


def _ip(value: Any) -> str | None:
    try:
        return str(ipaddress.ip_address(str(value))) if value else None
    except ValueError:
        return None


def event_details(event: Any) -> dict[str, Any]:
    """The event's payload without its envelope, every secret redacted by the one secret rule
    (``domain.kernel.secrets``: credentials, secret config entries, webhook URLs, an
    installation's schema-marked fields)."""
    details: dict[str, Any] = redact(
        {k: v for k, v in vars(event).items() if k not in _ENVELOPE}
    )
    return details


class AuditProjection:
    """Writes one audit row per event of the application it follows."""

    name = "audit"
    sealed = True
    """Decodes events with personal data left as sealed tokens: no audit row ever holds the
    plaintext, so destroying a subject's key changes no row (docs/erasure.md)."""

    def apply(self, curs: Cursor, events: Sequence[tuple[Any, Tracking]]) -> None:
        owners: dict[UUID, UUID | None] = {}
        source = events[0][1].application_name.lower() if events else ""
        rows = [self.row(curs, owners, e, t, source) for e, t in events]
        curs.executemany(_INSERT, rows)

    def reset(self, curs: Cursor, application_name: str) -> bool:  # noqa: ARG002
        """The log is append-only: a rebuild keeps it (see ``reset_audit_log``)."""
        return False

    def _tenant_of(self, curs: Cursor, owners: dict[UUID, UUID | None], e: Any) -> UUID | None:
        aggregate = type(e).__qualname__.split(".")[0]
        if aggregate == "Tenant":
            return e.originator_id
        if hasattr(e, "tenant_id"):  # the created event of a tenant-scoped aggregate
            return _uuid(e.tenant_id)
        if e.originator_id not in owners:
            curs.execute(
                "SELECT tenant_id FROM audit_events WHERE originator_id = %s"
                " ORDER BY originator_version LIMIT 1",
                (e.originator_id,),
            )
            row = curs.fetchone()
            owners[e.originator_id] = None if row is None else row["tenant_id"]
        return owners[e.originator_id]

    def row(
        self, curs: Cursor, owners: dict[UUID, UUID | None], e: Any, t: Tracking, source: str
    ) -> tuple[Any, ...]:
        """The row written for event ``e`` (verification recomputes it to compare)."""
        action = type(e).__qualname__
        tenant_id = self._tenant_of(curs, owners, e)
        owners[e.originator_id] = tenant_id
        meta = getattr(e, "meta", None) or {}
        details = event_details(e)
        if action.startswith("SensitiveRead."):
            resource_type, resource_id = e.resource_type, e.resource_id
        else:
            resource_type, resource_id = snake(action.split(".")[0]), str(e.originator_id)
        user_id = _uuid(meta.get("user_id"))
        if meta.get("user_id") is not None and user_id is None:
            details["actor_user"] = str(meta["user_id"])
        sealed = {k: meta[k] for k in ("ip", "user_agent") if is_token(meta.get(k))}
        if sealed:  # an inet column cannot hold a token: the sealed values go in the details
            details["actor_sealed"] = sealed
            meta = {k: v for k, v in meta.items() if k not in sealed}
        return (
            audit_id(source, e.originator_id, e.originator_version),
            tenant_id, source, GENESIS, GENESIS, t.notification_id,
            e.originator_id, e.originator_version, action[:100], resource_type[:100],
            resource_id, user_id, text(meta.get("kind")), _ip(meta.get("ip")),
            text(meta.get("user_agent")), _short(text(meta.get("request_id")), 255), e.timestamp,
            jsonb(details),
        )  # fmt: skip


def _short(value: str | None, n: int) -> str | None:
    """A value for a bounded column: an event is never refused for its metadata's length."""
    return None if value is None else value[:n]


def reset_audit_log(owner_conninfo: str, tracking_table: str = "audit_tracking") -> None:
    """Empty the audit log and its position, as the owner, so the projector rebuilds it.

    Only the owner can: it disables the truncate trigger for this one transaction. The rows
    the projector then writes are identical (ids, chains and hashes derive from the events).
    """
    with psycopg.connect(owner_conninfo) as conn, conn.transaction():
        conn.execute("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only_truncate")
        conn.execute("TRUNCATE audit_events")
        conn.execute("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only_truncate")
        if conn.execute("SELECT to_regclass(%s)", (tracking_table,)).fetchone() != (None,):
            conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(tracking_table)))
