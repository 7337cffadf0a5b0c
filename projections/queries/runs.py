"""Runs as the API reads them: one with its steps, and a page of them."""

from __future__ import annotations

from typing import Any, NamedTuple
from uuid import UUID

from projections.queries import workflows
from projections.queries.paging import Conn, PageOf, PageRequest, Row, fetch_page


class RunDetail(NamedTuple):
    """A run's row, its step rows (a step's row before its items'), the step ids in the
    order of the run's definition version, that definition, and its child runs (in step and
    item order)."""

    run: Row
    steps: list[Row]
    step_order: list[str]
    definition: dict[str, Any]
    children: list[Row] = []


def run_detail(conn: Conn, run_id: UUID) -> RunDetail | None:
    run = conn.execute("SELECT * FROM runs WHERE id = %s", (run_id,)).fetchone()
    if run is None:
        return None
    steps = conn.execute(
        "SELECT * FROM run_steps WHERE run_id = %s ORDER BY step_id, item_index NULLS FIRST",
        (run_id,),
    ).fetchall()
    found = workflows.definition(conn, run["workflow_id"], run["workflow_version"])
    definition = (found or {}).get("definition") or {}
    declared = definition.get("steps", [])
    order = [str(s.get("id")) for s in declared if isinstance(s, dict)]
    children = conn.execute(
        "SELECT id, status, workflow_id, parent_step_id, parent_item_index FROM runs"
        " WHERE parent_run_id = %s"
        " ORDER BY parent_step_id, parent_item_index NULLS FIRST, created_at, id",
        (run_id,),
    ).fetchall()
    position = {step_id: i for i, step_id in enumerate(order)}
    children.sort(key=lambda c: position.get(str(c["parent_step_id"]), len(position)))
    return RunDetail(run, steps, order, definition, children)


def list_runs(
    conn: Conn,
    page: PageRequest,
    *,
    workflow_id: UUID | None = None,
    status: str | None = None,
) -> PageOf:
    """Newest first, of one workflow and one ``status`` if given."""
    where: list[str] = []
    params: list[object] = []
    if workflow_id is not None:
        where.append("workflow_id = %s")
        params.append(workflow_id)
    if status is not None:
        where.append("status = %s")
        params.append(status)
    return fetch_page(
        conn, "SELECT * FROM runs", page, where=where, params=params, descending=True
    )


def waiting_approvals(conn: Conn, limit: int = 500) -> list[Row]:
    """Approval steps (and foreach items) waiting for a decision in runs still going, oldest
    first, each with its run's workflow."""
    return conn.execute(
        "SELECT s.run_id, s.step_id, s.item_index, s.waiting, s.updated_at, r.workflow_id,"
        " r.workflow_version, w.name AS workflow_name FROM run_steps s"
        " JOIN runs r ON r.id = s.run_id LEFT JOIN workflows w ON w.id = r.workflow_id"
        " WHERE s.waiting ->> 'kind' = 'approval' AND r.status IN ('running', 'paused')"
        " ORDER BY s.updated_at, s.run_id, s.step_id, s.item_index NULLS FIRST LIMIT %s",
        (limit,),
    ).fetchall()
