"""History for auditors: an aggregate's events in order, and its state at a version or time.

Fenced by tenant: a tenant's auditor reaches an aggregate only if the aggregate's events are
in that tenant's audit rows (``audit_events.tenant_id``); anything else is "not found", exactly
like a missing aggregate. Events and states are read from the event store itself (not the
projection), so they are complete up to the latest save; payloads are redacted as in the log.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.application import AggregateNotFoundError, Application
from psycopg.rows import tuple_row

from domain.kernel.secrets import redact
from projections.audit.projection import event_details, snake
from projections.jsonutil import dumps

Apps = Application[Any] | Mapping[str, Application[Any]]


class ProjectionError(Exception):
    """Root of the projections layer's errors."""


class HistoryNotFoundError(ProjectionError, LookupError):
    """No such aggregate for this tenant (or not at that version/time)."""

    def __init__(self, resource_type: str | None, aggregate_id: UUID, why: str = "") -> None:
        self.resource_type, self.aggregate_id = resource_type, aggregate_id
        what = f"{resource_type or 'aggregate'} {aggregate_id}"
        super().__init__(f"{what} not found{': ' + why if why else ''}")


@dataclass(frozen=True)
class HistoryEvent:
    version: int
    type: str
    time: datetime
    data: dict[str, Any]
    meta: dict[str, Any]


@dataclass(frozen=True)
class AggregateState:
    id: UUID
    type: str
    version: int
    time: datetime
    state: dict[str, Any]


def _fence(
    conn: psycopg.Connection[Any],
    tenant_id: UUID | str,
    aggregate_id: UUID,
    resource_type: str | None,
) -> tuple[str, str]:
    """(source, resource_type) of the tenant's aggregate, else HistoryNotFoundError."""
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(
            "SELECT source, resource_type FROM audit_events"
            " WHERE originator_id = %s AND tenant_id = %s ORDER BY originator_version LIMIT 1",
            (aggregate_id, str(tenant_id)),
        )
        row = cur.fetchone()
    if row is None or (resource_type is not None and row[1] != resource_type):
        raise HistoryNotFoundError(resource_type, aggregate_id)
    return row[0], row[1]


def _app(apps: Apps, source: str) -> Application[Any]:
    if isinstance(apps, Application):
        return apps
    return apps[source]


def aggregate_events(
    apps: Apps,
    conn: psycopg.Connection[Any],
    tenant_id: UUID | str,
    aggregate_id: UUID,
    *,
    resource_type: str | None = None,
) -> list[HistoryEvent]:
    """Every event of the tenant's aggregate, oldest first (credentials redacted)."""
    source, _ = _fence(conn, tenant_id, aggregate_id, resource_type)
    app = _app(apps, source)
    events: list[Any] = list(app.repository.event_store.get(aggregate_id))
    return [
        HistoryEvent(
            version=e.originator_version,
            type=type(e).__qualname__,
            time=e.timestamp,
            data=json.loads(dumps(event_details(e))),
            meta=dict(getattr(e, "meta", None) or {}),
        )
        for e in events
    ]


def state_as_of(
    apps: Apps,
    conn: psycopg.Connection[Any],
    tenant_id: UUID | str,
    aggregate_id: UUID,
    *,
    version: int | None = None,
    at: datetime | None = None,
    resource_type: str | None = None,
) -> AggregateState:
    """The aggregate's state replayed up to ``version`` or to its last event at or before
    ``at`` (latest when neither); HistoryNotFoundError if it did not exist then."""
    source, _ = _fence(conn, tenant_id, aggregate_id, resource_type)
    app = _app(apps, source)
    if at is not None:
        version = None
        stream: list[Any] = list(app.repository.event_store.get(aggregate_id))
        for e in stream:
            if e.timestamp > at:
                break
            version = e.originator_version
        if version is None:
            raise HistoryNotFoundError(resource_type, aggregate_id, f"it did not exist at {at}")
    try:
        aggregate: Any = app.repository.get(aggregate_id, version=version)
    except AggregateNotFoundError:
        raise HistoryNotFoundError(resource_type, aggregate_id, f"no version {version}") from None
    if version is not None and aggregate.version != version:
        raise HistoryNotFoundError(resource_type, aggregate_id, f"no version {version}")
    public = {k: v for k, v in vars(aggregate).items() if not k.startswith("_")}
    return AggregateState(
        id=aggregate.id,
        type=snake(type(aggregate).__name__),
        version=aggregate.version,
        time=aggregate.modified_on,
        state=json.loads(dumps(redact(public))),
    )
