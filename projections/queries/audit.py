"""The audit log as the API reads it: a filtered page of a tenant's audit events."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from projections.queries.paging import Conn, PageOf, PageRequest, fetch_page

_EVENTS = (
    "SELECT id, source, seq, \"timestamp\", action, resource_type, resource_id, user_id,"
    " actor_kind, host(ip_address) AS ip_address, user_agent, request_id,"
    " originator_id AS aggregate_id, originator_version AS aggregate_version, details,"
    " prev_hash, hash FROM audit_events"
)


def list_events(
    conn: Conn,
    page: PageRequest,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    user_id: UUID | None = None,
    action: str | None = None,
    resource_type: str | None = None,
    resource_id: str | None = None,
) -> PageOf:
    """Oldest first: at or after ``since``, before ``until``, of one user, action, resource."""
    where: list[str] = []
    params: list[object] = []
    for clause, value in (
        ('"timestamp" >= %s', since),
        ('"timestamp" < %s', until),
        ("user_id = %s", user_id),
        ("action = %s", action),
        ("resource_type = %s", resource_type),
        ("resource_id = %s", resource_id),
    ):
        if value is not None:
            where.append(clause)
            params.append(value)
    return fetch_page(
        conn, _EVENTS, page, where=where, params=params, order_column='"timestamp"',
        row_key="timestamp",
    )  # fmt: skip
