"""Row-level security: the API's role sees one tenant's rows, without any WHERE clause."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from projections.readmodel.projection import TABLES

GLOBAL = {"roles", "marketplace_skills", "marketplace_skill_versions"}
TENANT_TABLES = [
    *sorted(t for ts in TABLES.values() for t in ts if t not in GLOBAL),
    "audit_events",
]


def tenant_column(table: str) -> str:
    return "id" if table == "tenants" else "tenant_id"


def _select_all(conninfo: str, table: str, tenant: Any) -> list[dict[str, Any]]:
    with psycopg.connect(conninfo, row_factory=psycopg.rows.dict_row) as conn, conn.transaction():
        if tenant is not None:
            conn.execute("SELECT set_config('app.tenant_id', %s, true)", (str(tenant),))
        return conn.execute(f"SELECT * FROM {table}").fetchall()


def test_every_tenant_table_has_rows_of_both_tenants(proj_db: Any, two_tenants: Any) -> None:
    a, b = two_tenants
    with psycopg.connect(proj_db.system.conninfo) as conn:
        for table in TENANT_TABLES:
            col = tenant_column(table)
            for t in (a, b):
                n = conn.execute(
                    f"SELECT count(*) FROM {table} WHERE {col} = %s", (t.tenant_id,)
                ).fetchone()
                assert n is not None
                assert n[0] > 0, f"{table} has no rows of {t.slug}"


@pytest.mark.parametrize("table", TENANT_TABLES)
def test_api_role_sees_only_the_current_tenants_rows(
    proj_db: Any, two_tenants: Any, table: str
) -> None:
    a, b = two_tenants
    col = tenant_column(table)
    for current in (a, b):
        rows = _select_all(proj_db.api.conninfo, table, current.tenant_id)
        assert rows, f"{table}: tenant {current.slug} sees nothing"
        assert {r[col] for r in rows} == {current.tenant_id}


@pytest.mark.parametrize("table", TENANT_TABLES)
def test_api_role_sees_nothing_without_a_tenant(proj_db: Any, two_tenants: Any, table: str) -> None:
    assert _select_all(proj_db.api.conninfo, table, None) == []


def test_api_role_reads_global_tables_and_cannot_write(proj_db: Any, two_tenants: Any) -> None:
    a, _ = two_tenants
    assert _select_all(proj_db.api.conninfo, "roles", None)
    assert _select_all(proj_db.api.conninfo, "marketplace_skills", None)
    with psycopg.connect(proj_db.api.conninfo) as conn:
        conn.execute("SELECT set_config('app.tenant_id', %s, false)", (str(a.tenant_id),))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE users SET name = 'x'")


def test_a_deleted_preference_set_again_is_projected_with_its_new_value(
    proj_db: Any, two_tenants: Any
) -> None:
    a, _ = two_tenants
    rows = _select_all(proj_db.api.conninfo, "user_preferences", a.tenant_id)
    assert {(r["preference_key"], r["preference_value"]) for r in rows} == {
        ("lang", "fr"),
        ("tz", "UTC"),
    }
