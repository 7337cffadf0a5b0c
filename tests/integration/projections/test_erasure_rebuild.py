"""After an erasure, the projections rebuilt from zero equal the live ones, hash for hash."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from api.database import ConnInfo, Database
from projections.audit.chain import verify_chain
from projections.audit.projection import reset_audit_log
from tests.conftest import create_database, drop_database, make_settings
from tests.integration.projections.conftest import (
    TenantData,
    app_classes,
    catch_up,
    close_runners,
    dump,
    make_runners,
    open_apps,
    populate_tenant,
    publish_skill,
)


@pytest.fixture
def erased_db(pg_server: ConnInfo, tmp_path: Path) -> Iterator[tuple[Any, Database, TenantData]]:
    from api.database_setup import upgrade

    info = create_database(pg_server, prefix="platinum_erase")
    settings = make_settings(info, tmp_path)
    db = upgrade(settings, app_classes())
    apps = open_apps(settings, db.system)
    try:
        t = populate_tenant(apps, publish_skill(apps))
        catch_up(settings, db)  # live: the user's rows are projected in clear first
        apps.platform.erase_user(t.tenant_id, t.user_id)
        assert apps.runs.shred_run_data(t.tenant_id, t.run_ids[0], 7)  # retention, likewise
    finally:
        apps.close()
    yield settings, db, t
    drop_database(pg_server, info)


def test_a_rebuild_after_an_erasure_gives_the_scrubbed_tables_and_the_same_chains(
    erased_db: Any,
) -> None:
    settings, db, t = erased_db
    catch_up(settings, db)
    live = dump(db.system.conninfo)
    with psycopg.connect(db.system.conninfo) as conn:
        name, email = conn.execute(
            "SELECT name, email FROM users WHERE id = %s", (t.user_id,)
        ).fetchone()  # type: ignore[misc]
        turns = conn.execute(
            "SELECT input_text, output_text, context_data FROM conversations WHERE user_id = %s",
            (t.user_id,),
        ).fetchall()
        notes = conn.execute(
            "SELECT title, message FROM notifications WHERE recipient_user_id = %s", (t.user_id,)
        ).fetchall()
        prefs = conn.execute(
            "SELECT preference_value FROM user_preferences WHERE user_id = %s", (t.user_id,)
        ).fetchall()
    assert name == "[erased]"
    assert email == f"erased+{t.user_id}@erased.invalid"
    assert prefs
    assert turns == [("[erased]", "[erased]", "[erased]")]
    assert notes == [("[erased]", "[erased]")]
    assert "Hi Bob" not in str(live)
    assert {p[0] for p in prefs} == {"[erased]"}
    # the shredded run: every datum of it reads [erased], its ids and statuses stay
    assert {r for r in live["runs"] if '"input": "[erased]"' in r}
    steps = [r for r in live["run_steps"] if str(t.run_ids[0]) in r]
    assert steps
    assert not [r for r in steps if '"out"' in r or '"in"' in r or '"message": "no"' in r]
    # from zero, with the key gone: the same rows, the audit log hash for hash
    reset_audit_log(db.owner.conninfo)
    runners = make_runners(settings, db)
    try:
        for r in runners:
            r.rebuild()
    finally:
        close_runners(runners)
    assert dump(db.system.conninfo) == live
    with psycopg.connect(db.system.conninfo) as conn:
        assert verify_chain(conn).ok
