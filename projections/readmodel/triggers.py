"""Read-model handlers of triggers: ``schedules`` and ``hooks`` (a hook's secret never lands)."""

from __future__ import annotations

from typing import Any

from projections.batch import Cursor
from projections.jsonutil import jsonb
from projections.readmodel.handlers import on, touch

_SCHEDULE_COLUMNS = ("cron", "timezone", "input", "overlap", "catchup", "status")


@on("Schedule.Created")
def _schedule_created(curs: Cursor, e: Any) -> None:
    curs.execute(
        "INSERT INTO schedules (id, tenant_id, workflow_id, cron, timezone, input, overlap,"
        " catchup, status, active_since, created_by, version, created_at, updated_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'active', %s, %s, %s, %s, %s)",
        (
            e.originator_id, e.tenant_id, e.workflow_id, e.cron, e.timezone, jsonb(e.input),
            e.overlap, e.catchup, e.created_at, e.created_by, e.originator_version,
            e.created_at, e.timestamp,
        ),
    )  # fmt: skip


@on("Schedule.Updated")
def _schedule_updated(curs: Cursor, e: Any) -> None:
    changes = e.changes
    sets: dict[str, Any] = {
        k: jsonb(changes[k]) if k == "input" else changes[k]
        for k in _SCHEDULE_COLUMNS
        if k in changes
    }
    if "cron" in changes or "timezone" in changes or changes.get("status") == "active":
        sets["active_since"] = e.at
    touch(curs, "schedules", e, sets)


@on("Schedule.Deleted")
def _schedule_deleted(curs: Cursor, e: Any) -> None:
    curs.execute("DELETE FROM schedules WHERE id = %s", (e.originator_id,))


@on("Hook.Created")
def _hook_created(curs: Cursor, e: Any) -> None:
    curs.execute(
        "INSERT INTO hooks (id, tenant_id, workflow_id, mapping, created_by, version,"
        " created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (
            e.originator_id, e.tenant_id, e.workflow_id, e.mapping, e.created_by,
            e.originator_version, e.created_at, e.timestamp,
        ),
    )  # fmt: skip


@on("Hook.Deleted")
def _hook_deleted(curs: Cursor, e: Any) -> None:
    curs.execute("DELETE FROM hooks WHERE id = %s", (e.originator_id,))
