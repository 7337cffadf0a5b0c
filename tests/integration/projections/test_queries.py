"""The API's reads (``projections/queries``) on the API's role: each answers for the fenced
tenant alone, pages walk a table without gaps or repeats, and the system role's reads (the
command line's slug lookup, the metrics gauges) work on any kind of connection."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from api.readdb import open_pool, tenant_tx
from projections.queries import audit, metrics, runs, tenants, users, workflows
from projections.queries.paging import PageRequest, decode_cursor
from tests.integration.projections.conftest import (
    TenantData,
)


@pytest.fixture(scope="module")
def read_pool(proj_db: Any) -> Iterator[ConnectionPool[psycopg.Connection[dict[str, Any]]]]:
    pool = open_pool(proj_db.api.conninfo, 2)  # the API's role, as the API reads
    yield pool
    pool.close()


def test_reads_answer_for_the_fenced_tenant_only(
    read_pool: Any, two_tenants: tuple[TenantData, TenantData]
) -> None:
    a, b = two_tenants
    with tenant_tx(read_pool, a.tenant_id) as conn:
        assert users.existing(conn, {a.user_id, b.user_id}) == {a.user_id}
        assert users.user(conn, b.user_id) is None
        assert runs.run_detail(conn, b.run_ids[0]) is None
        detail = runs.run_detail(conn, a.run_ids[0])
        rows, _ = workflows.list_workflows(conn, PageRequest())
        versions = workflows.versions(conn, a.workflow_id)
        assigned = users.role_assignments(conn, [a.user_id, b.user_id])
    assert detail is not None
    assert detail.step_order == ["a", "b"]  # the definition of the run's version (2)
    # a step's own row comes before its items' rows
    assert [(s["step_id"], s["item_index"]) for s in detail.steps][-3:] == [
        ("s2", None), ("s2", 0), ("s2", 1)
    ]  # fmt: skip
    assert [r["id"] for r in rows] == [a.workflow_id]
    assert [v["definition_version"] for v in versions] == [1, 2]
    assert len(assigned[a.user_id]) == 2
    assert assigned[b.user_id] == []  # another tenant's assignments are not seen


def test_pages_walk_the_audit_log_without_gaps_or_repeats(
    read_pool: Any, two_tenants: tuple[TenantData, TenantData]
) -> None:
    a, _ = two_tenants
    with tenant_tx(read_pool, a.tenant_id) as conn:
        everything, last = audit.list_events(conn, PageRequest(limit=500))
        assert last is None
        walked: list[Any] = []
        page = PageRequest(limit=3)
        while True:
            rows, cursor = audit.list_events(conn, page)
            walked += [r["id"] for r in rows]
            if cursor is None:
                break
            page = PageRequest(limit=3, after=decode_cursor(cursor))
    assert len(everything) > 3
    assert walked == [r["id"] for r in everything]


def test_system_role_reads_on_plain_and_dict_connections(
    proj_db: Any, two_tenants: tuple[TenantData, TenantData]
) -> None:
    a, _ = two_tenants
    answers = []
    for row_factory in (None, dict_row):
        kwargs: dict[str, Any] = {} if row_factory is None else {"row_factory": row_factory}
        with psycopg.connect(proj_db.system.conninfo, autocommit=True, **kwargs) as conn:
            assert tenants.tenant_id_by_slug(conn, a.slug) == a.tenant_id
            assert tenants.tenant_id_by_slug(conn, "no-such-tenant") is None
            answers.append((metrics.runs_by_status(conn), metrics.queue_depths(conn)))
    assert answers[0] == answers[1]
    by_status, depths = answers[0]
    assert by_status["cancelled"] >= 2  # both tenants' runs ended cancelled
    assert set(depths) == {"steps", "notifications"}
