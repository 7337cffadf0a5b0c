"""Schema migrations: a database migrated by an older revision graph upgrades cleanly."""

from __future__ import annotations

import psycopg

from api.database_setup import admin_conninfo, run_migrations


def _recorded(conninfo: str) -> set[str]:
    with psycopg.connect(conninfo) as conn:
        return {r[0] for r in conn.execute("SELECT version_num FROM alembic_version")}


def test_a_database_with_the_engine_branchs_old_fork_recorded_upgrades_to_one_head_per_branch(  # type: ignore[no-untyped-def]
    settings, db
) -> None:
    owner = admin_conninfo(settings)
    heads = _recorded(owner.conninfo)
    assert "engine_0005" in heads
    assert not heads & {"engine_0001", "engine_runtime_0001"}
    # what a database migrated before the engine branch was made one line has recorded:
    # two engine heads (the old root's two children), and a retired root on very old ones
    with psycopg.connect(owner.conninfo, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO alembic_version VALUES ('engine_runtime_0001'), ('engine_0001')"
        )
    run_migrations(owner)
    assert _recorded(owner.conninfo) == heads
    run_migrations(owner)  # and again: nothing to do
    assert _recorded(owner.conninfo) == heads
