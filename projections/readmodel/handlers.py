"""The registry of read-model handlers, keyed by event class qualname (``"User.Registered"``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from projections.batch import Cursor

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
    if isinstance(curs, BatchWriter):
        curs.touch(table, e.originator_id, cols)
    else:
        _update(curs, table, e.originator_id, cols)


def _update(curs: Cursor, table: str, row_id: Any, cols: dict[str, Any]) -> None:
    assignments = ", ".join(f"{k} = %s" for k in cols)
    curs.execute(f"UPDATE {table} SET {assignments} WHERE id = %s", (*cols.values(), row_id))


class BatchWriter:
    """The batch's cursor, merging ADJACENT ``touch`` UPDATEs of one row into one UPDATE.

    A touch only assigns values (never reads the row), and the read-model tables have no
    triggers: ``UPDATE t SET a = 1, v = 2 WHERE id = X`` then ``UPDATE t SET b = 3, v = 3 WHERE
    id = X`` leave the row exactly as ``UPDATE t SET a = 1, b = 3, v = 3 WHERE id = X`` does
    (later values win; a missing row stays missing). Any other statement first flushes the
    pending UPDATE, so statements keep their order. A tenant's nine ``Tenant.Updated`` of a
    batch cost one statement, not nine (see docs/performance.md, Replay).
    """

    def __init__(self, curs: Cursor) -> None:
        self.curs = curs
        self._pending: tuple[str, Any, dict[str, Any]] | None = None

    def touch(self, table: str, row_id: Any, cols: dict[str, Any]) -> None:
        pending = self._pending
        if pending is not None and pending[0] == table and pending[1] == row_id:
            pending[2].update(cols)  # a later event's value wins, as its UPDATE would
            return
        self.flush()
        self._pending = (table, row_id, dict(cols))

    def flush(self) -> None:
        if self._pending is not None:
            table, row_id, cols = self._pending
            self._pending = None
            _update(self.curs, table, row_id, cols)

    def execute(self, query: Any, params: Any = None) -> Cursor:
        self.flush()
        return self.curs.execute(query, params)

    def executemany(self, query: Any, params_seq: Any) -> None:
        self.flush()
        self.curs.executemany(query, params_seq)

    def fetchone(self) -> Any:
        return self.curs.fetchone()
