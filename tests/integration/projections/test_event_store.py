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
    from domain.commands import CreateTenant

    apps.platform.create_tenant(CreateTenant(name="Appendonly", slug="append-only-co"))


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


def test_the_api_role_still_appends_events_through_the_library(
    proj_db: Any, apps: Apps
) -> None:
    from domain.commands import CreateTenant

    # the apps fixture writes as platinum_api, like the API
    with apps.platform.recorder.datastore.get_connection() as conn:
        assert conn.execute("SELECT current_user").fetchone()["current_user"] == "platinum_api"
    with psycopg.connect(proj_db.system.conninfo) as conn:
        before = conn.execute("SELECT count(*) FROM platform_events").fetchone()
    result = apps.platform.create_tenant(CreateTenant(name="Still writes", slug="still-writes"))
    assert apps.platform.get_tenant(result.tenant.id).name == "Still writes"
    with psycopg.connect(proj_db.system.conninfo) as conn:
        after = conn.execute("SELECT count(*) FROM platform_events").fetchone()
    assert before is not None
    assert after is not None
    assert after[0] > before[0]
