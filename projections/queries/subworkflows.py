"""Workflows by name, for ``workflow:<name>[@<version>]`` steps: at submit and when a step runs."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg

from projections.queries.paging import Conn

_NAMED = "SELECT id FROM workflows WHERE tenant_id = %s AND name = %s AND status <> 'archived'"


class WorkflowsByName:
    """The engine's ``WorkflowCatalog`` over the read model, on a connection of the system role
    (it answers for any tenant: the worker serves them all)."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo

    def named(self, tenant_id: UUID, name: str) -> list[UUID]:
        """Ids of the tenant's workflows called ``name`` that are not archived."""
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            rows = conn.execute(_NAMED, (tenant_id, name)).fetchall()
        return [row[0] for row in rows]


def resolve_named(
    conn: Conn, tenant_id: UUID, name: str, version: int | None
) -> dict[str, Any] | str:
    """The definition ``workflow:<name>[@<version>]`` names in the tenant (on a connection
    whose row-level security sees that tenant), or why there is none."""
    rows = conn.execute(
        "SELECT id, current_version, definition FROM workflows"
        " WHERE tenant_id = %s AND name = %s AND status <> 'archived'",
        (tenant_id, name),
    ).fetchall()
    if not rows:
        return f"no workflow named {name!r} in this tenant"
    if len(rows) > 1:
        return f"{len(rows)} workflows are named {name!r}: a sub-workflow must name exactly one"
    row = rows[0]
    if version is None or version == row["current_version"]:
        found: dict[str, Any] = row["definition"]
        return found
    pinned = conn.execute(
        "SELECT definition FROM workflow_versions"
        " WHERE workflow_id = %s AND definition_version = %s",
        (row["id"], version),
    ).fetchone()
    if pinned is None:
        return f"workflow {name!r} has no version {version}"
    definition: dict[str, Any] = pinned["definition"]
    return definition
