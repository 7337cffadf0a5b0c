"""Read-model handlers of workflows: ``workflows`` and ``workflow_versions``."""

from __future__ import annotations

from typing import Any

from projections.batch import Cursor
from projections.jsonutil import jsonb
from projections.readmodel.handlers import on, touch

# A workflow's row and its version row are written by ONE statement (a data-modifying CTE):
# no result travels back to Python, so a batch stays one pipeline (no round trip per event),
# and the definition is converted to JSON once; the version row takes the workflow row's value.
_ADD_VERSION = (
    " INSERT INTO workflow_versions (tenant_id, workflow_id, definition_version, definition,"
    " created_by, created_at, version)"
    " SELECT w.tenant_id, w.id, w.current_version, w.definition, %s::uuid, %s::timestamptz,"
    " w.version FROM w"
)


@on("Workflow.Created")
def _workflow_created(curs: Cursor, e: Any) -> None:
    curs.execute(
        "WITH w AS (INSERT INTO workflows (id, tenant_id, name, definition, current_version,"
        " created_by, status, version, created_at, updated_at)"
        " VALUES (%s, %s, %s, %s, 1, %s, 'draft', %s, %s, %s)"
        " RETURNING tenant_id, id, current_version, definition, version)" + _ADD_VERSION,
        (
            e.originator_id, e.tenant_id, e.name, jsonb(e.definition), e.created_by,
            e.originator_version, e.created_at, e.timestamp, e.created_by, e.created_at,
        ),
    )  # fmt: skip


@on("Workflow.DefinitionUpdated")
def _workflow_definition(curs: Cursor, e: Any) -> None:
    # no workflow row (never created): nothing is written, as before
    curs.execute(
        "WITH w AS (UPDATE workflows SET definition = %s, current_version = current_version + 1,"
        " version = %s, updated_at = %s WHERE id = %s"
        " RETURNING tenant_id, id, current_version, definition, version)" + _ADD_VERSION,
        (
            jsonb(e.definition), e.originator_version, e.timestamp, e.originator_id,
            e.updated_by, e.at,
        ),
    )  # fmt: skip


@on("Workflow.Renamed")
def _workflow_renamed(curs: Cursor, e: Any) -> None:
    touch(curs, "workflows", e, {"name": e.name})


@on("Workflow.StatusChanged")
def _workflow_status(curs: Cursor, e: Any) -> None:
    touch(curs, "workflows", e, {"status": e.status})
