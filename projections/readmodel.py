"""The relational read model: one handler per domain event, writing through the batch cursor."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from eventsourcing.persistence import Tracking
from psycopg.types.json import Jsonb

from projections.runner import Cursor

Handler = Callable[[Cursor, Any], None]
HANDLERS: dict[str, Handler] = {}


def on(*names: str) -> Callable[[Handler], Handler]:
    """Register a handler for events named ``Aggregate.Event`` (the event class's qualname)."""

    def register(fn: Handler) -> Handler:
        for name in names:
            HANDLERS[name] = fn
        return fn

    return register


def event_name(event: Any) -> str:
    return type(event).__qualname__


class ReadModelProjection:
    """Applies every known event to the read-model tables; unknown events are tracked only."""

    name = "readmodel"
    tables = ("tenants",)

    def apply(self, curs: Cursor, events: Sequence[tuple[Any, Tracking]]) -> None:
        for event, _tracking in events:
            handler = HANDLERS.get(event_name(event))
            if handler is not None:
                handler(curs, event)

    def reset(self, curs: Cursor) -> None:
        for table in reversed(self.tables):
            curs.execute(f"DELETE FROM {table}")


# --- tenants ----------------------------------------------------------------------------


@on("Tenant.Created")
def _tenant_created(curs: Cursor, e: Any) -> None:
    curs.execute(
        "INSERT INTO tenants (id, name, slug, config, billing_info, status, version,"
        " created_at, updated_at) VALUES (%s, %s, %s, %s, %s, 'active', %s, %s, %s)",
        (
            e.originator_id, e.name, e.slug, Jsonb(e.config), Jsonb(e.billing_info),
            e.originator_version, e.timestamp, e.timestamp,
        ),
    )


@on("Tenant.Updated")
def _tenant_updated(curs: Cursor, e: Any) -> None:
    sets = {k: (Jsonb(v) if k in ("config", "billing_info") else v) for k, v in e.changes.items()}
    assignments = ", ".join(f"{k} = %s" for k in sets)
    curs.execute(
        f"UPDATE tenants SET {assignments}, version = %s, updated_at = %s WHERE id = %s",
        (*sets.values(), e.originator_version, e.timestamp, e.originator_id),
    )


@on("Tenant.StatusChanged")
def _tenant_status(curs: Cursor, e: Any) -> None:
    curs.execute(
        "UPDATE tenants SET status = %s, version = %s, updated_at = %s WHERE id = %s",
        (e.status, e.originator_version, e.timestamp, e.originator_id),
    )


@on("Tenant.ConfigSet", "Tenant.ConfigUnset")
def _tenant_config(curs: Cursor, e: Any) -> None:
    params: tuple[Any, ...]
    if event_name(e) == "Tenant.ConfigSet":
        expr = "coalesce(config, '{}'::jsonb) || jsonb_build_object(%s, %s)"
        params = (e.key, Jsonb(e.value))
    else:
        expr, params = "coalesce(config, '{}'::jsonb) - %s", (e.key,)
    curs.execute(
        f"UPDATE tenants SET config = {expr}, version = %s, updated_at = %s WHERE id = %s",
        (*params, e.originator_version, e.timestamp, e.originator_id),
    )
