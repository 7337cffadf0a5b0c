"""The read-model projection: each event applied by its context's handler, batch by batch.

Handlers are keyed by the event class's qualname (``"User.Registered"``); events without a
handler are tracked only. Each handler writes ``version`` = the event's aggregate version, so a
row's version is its aggregate's (the API's ETag). Event timestamps, never the clock, fill the
``*_at`` columns, so a rebuild reproduces every row exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from eventsourcing.persistence import Tracking

from projections.batch import Cursor
from projections.readmodel import (
    identity,
    marketplace,
    messaging,
    runs,
    triggers,
    workflows,
)
from projections.readmodel.handlers import HANDLERS, BatchWriter, event_name

CONTEXTS = (identity, marketplace, messaging, runs, triggers, workflows)
"""The handler modules, one per bounded context: importing them registers their handlers."""

# Tables written from each application's events, parents first (see reset()).
TABLES: dict[str, tuple[str, ...]] = {
    "platform": (
        "tenants", "tenant_config", "users", "roles", "user_roles", "sessions", "api_keys",
        "user_preferences", "preference_identities", "workflows", "workflow_versions",
        "marketplace_skills", "marketplace_skill_versions", "installed_skills", "notifications",
        "conversations", "schedules", "hooks",
    ),
    "runs": ("runs", "run_steps"),
}  # fmt: skip


class ReadModelProjection:
    """Applies every known event to the read-model tables; unknown events are tracked only."""

    name = "readmodel"

    def apply(self, curs: Cursor, events: Sequence[tuple[Any, Tracking]]) -> None:
        run_versions: dict[Any, tuple[int, Any]] = {}
        writer = BatchWriter(curs)
        # handlers write through the batch's writer (see BatchWriter): it quacks as a cursor
        batch_curs = cast(Cursor, writer)
        for event, _tracking in events:
            name = event_name(event)
            handler = HANDLERS.get(name)
            if handler is not None:
                handler(batch_curs, event)
                if name.startswith("Run."):
                    run_versions[event.originator_id] = (event.originator_version, event.timestamp)
        writer.flush()
        # a run's version and updated_at follow its last event of the batch: one UPDATE per
        # run instead of one per step event
        curs.executemany(
            "UPDATE runs SET version = %s, updated_at = %s WHERE id = %s AND version < %s",
            [(v, ts, run_id, v) for run_id, (v, ts) in run_versions.items()],
        )

    def reset(self, curs: Cursor, application_name: str) -> bool:
        tables = TABLES.get(application_name.lower(), ())
        if tables:
            curs.execute(f"TRUNCATE {', '.join(tables)}")
        return True
