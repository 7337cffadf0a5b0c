"""The registry of read-model handlers, keyed by event class qualname (``"User.Registered"``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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


def touch(curs: Cursor, table: str, e: Any, sets: dict[str, Any], *, updated: bool = True) -> None:
    """UPDATE one aggregate's row: ``sets`` plus version (and updated_at)."""
    cols = {**sets, "version": e.originator_version}
    if updated:
        cols["updated_at"] = e.timestamp
    assignments = ", ".join(f"{k} = %s" for k in cols)
    curs.execute(
        f"UPDATE {table} SET {assignments} WHERE id = %s", (*cols.values(), e.originator_id)
    )
