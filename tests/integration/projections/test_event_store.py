"""The event tables are append-only for every role; the library still appends through them."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from tests.integration.projections.conftest import Apps

STATEMENTS = [
    "UPDATE {t} SET topic = topic",
    "DELETE FROM {t}",
    "TRUNCATE {t}",
]


@pytest.fixture(scope="module")
def some_events(apps: Apps) -> None:
    """Rows in both events tables (a row trigger fires only on a row)."""
    from tests.integration.projections.conftest import populate_tenant, publish_skill

    populate_tenant(apps, publish_skill(apps), runs=1, steps=1, config_edits=0)


@pytest.mark.parametrize("statement", STATEMENTS)
@pytest.mark.parametrize("role", ["api", "system", "owner"])
@pytest.mark.parametrize("table", ["platform_events", "runs_events"])
def test_events_cannot_be_changed_or_removed(
    proj_db: Any, some_events: None, statement: str, role: str, table: str
) -> None:
    with psycopg.connect(getattr(proj_db, role).conninfo) as conn, pytest.raises(
        psycopg.errors.InsufficientPrivilege
    ):
        conn.execute(statement.format(t=table))


def test_the_system_role_appends_events_through_the_library(proj_db: Any, apps: Apps) -> None:
    from domain.identity.commands import CreateTenant

    # the apps fixture writes as platinum_system, like the API process
    with apps.platform.recorder.datastore.get_connection() as conn:
        assert conn.execute("SELECT current_user").fetchone()["current_user"] == "platinum_system"
    with psycopg.connect(proj_db.system.conninfo) as conn:
        before = conn.execute("SELECT count(*) FROM platform_events").fetchone()
    result = apps.platform.create_tenant(CreateTenant(name="Still writes", slug="still-writes"))
    assert apps.platform.get_tenant(result.tenant.id).name == "Still writes"
    with psycopg.connect(proj_db.system.conninfo) as conn:
        after = conn.execute("SELECT count(*) FROM platform_events").fetchone()
    assert before is not None
    assert after is not None
    assert after[0] > before[0]


# --- issue 12, finding 15: the API's role reads no tenant's events ----------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT state FROM {t} LIMIT 1",
        "INSERT INTO {t} (originator_id, originator_version, topic, state)"
        " VALUES (gen_random_uuid(), 1, 'x', 'x')",
    ],
)
@pytest.mark.parametrize(
    "table", ["platform_events", "runs_events", "platform_snapshots", "runs_snapshots"]
)
def test_the_api_role_can_neither_read_nor_write_events_or_snapshots(
    proj_db: Any, some_events: None, statement: str, table: str
) -> None:
    with psycopg.connect(proj_db.api.conninfo) as conn, pytest.raises(
        psycopg.errors.InsufficientPrivilege
    ):
        conn.execute(statement.format(t=table))


# --- issue 12, finding 16: nobody changes a snapshot --------------------------------------------

SNAPSHOT_STATEMENTS = [
    "UPDATE {t} SET state = state",
    "UPDATE {t} SET topic = 'forged' WHERE originator_id = '{oid}'",
    "DELETE FROM {t} WHERE originator_id = '{oid}'",
    "TRUNCATE {t}",
]


@pytest.fixture(scope="module")
def a_snapshot(proj_db: Any) -> dict[str, str]:
    """One snapshot row in each snapshots table (written as the system role, as the library's
    snapshotting does)."""
    import uuid

    oid = str(uuid.uuid4())
    with psycopg.connect(proj_db.system.conninfo) as conn:
        for t in ("platform_snapshots", "runs_snapshots"):
            conn.execute(
                f"INSERT INTO {t} (originator_id, originator_version, topic, state)"
                " VALUES (%s, 50, 'domain.identity.tenants:Tenant', '\\x00')",
                (oid,),
            )
    return {"oid": oid}


@pytest.mark.parametrize("statement", SNAPSHOT_STATEMENTS)
@pytest.mark.parametrize("role", ["api", "system", "owner"])
@pytest.mark.parametrize("table", ["platform_snapshots", "runs_snapshots"])
def test_snapshots_cannot_be_changed_or_removed(
    proj_db: Any, a_snapshot: dict[str, str], statement: str, role: str, table: str
) -> None:
    with psycopg.connect(getattr(proj_db, role).conninfo) as conn, pytest.raises(
        psycopg.errors.InsufficientPrivilege
    ):
        conn.execute(statement.format(t=table, oid=a_snapshot["oid"]))
