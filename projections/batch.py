"""What a projection is to its runner: a ``BatchProjection`` applies a batch through one cursor."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import psycopg
from eventsourcing.persistence import Tracking

Cursor = psycopg.Cursor[Any]


class BatchProjection(Protocol):
    """Applies a batch of domain events to the view through the given cursor."""

    name: str

    def apply(self, curs: Cursor, events: Sequence[tuple[Any, Tracking]]) -> None: ...

    def reset(self, curs: Cursor, application_name: str) -> bool:
        """Delete what this projection wrote from ``application_name``'s events (before a
        rebuild); return False to keep the rows and the position (an append-only view)."""
        ...


def first_column(row: Any) -> Any:
    """The first column, whatever the cursor's row factory (the library's is dict_row)."""
    return next(iter(row.values())) if isinstance(row, dict) else row[0]


def mapper_for(app: Any, projection: Any) -> Any:
    """The mapper a projection decodes with: the application's ``raw_mapper`` (personal data
    left as sealed tokens) for a projection with ``sealed = True`` — the audit log — else the
    one that opens them (docs/erasure.md)."""
    if getattr(projection, "sealed", False):
        return getattr(app, "raw_mapper", app.mapper)
    return app.mapper
