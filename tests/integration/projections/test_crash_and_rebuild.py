"""Exactly once: a projector killed mid-stream and restarted leaves the same tables as one
uninterrupted pass from zero (read model and audit chains alike)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
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
    app_classes,
    close_runners,
    dump,
    make_runners,
    open_apps,
    populate_tenant,
    publish_skill,
)
from tests.support.polling import wait_until

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def crash_db(
    pg_server: ConnInfo, tmp_path: Path
) -> Iterator[tuple[Any, Database]]:
    from api.database_setup import upgrade

    info = create_database(pg_server, prefix="platinum_crash")
    settings = make_settings(info, tmp_path)
    db = upgrade(settings, app_classes())
    apps = open_apps(settings, db.system)
    try:
        skill = publish_skill(apps)
        for _ in range(2):
            populate_tenant(apps, skill, runs=3, steps=40, config_edits=80)
    finally:
        apps.close()
    yield settings, db
    drop_database(pg_server, info)


def _progress(db: Database) -> tuple[int, int]:
    """(events applied, events to apply) summed over every projection and application."""
    with psycopg.connect(db.system.conninfo) as conn:
        heads = {
            app: conn.execute(f"SELECT coalesce(max(notification_id), 0) FROM {app}_events")
            .fetchone()[0]  # type: ignore[index]
            for app in ("platform", "runs")
        }
        done = total = 0
        for table in ("readmodel_tracking", "audit_tracking"):
            for app, head in heads.items():
                row = conn.execute(
                    f"SELECT coalesce(max(notification_id), 0) FROM {table}"
                    " WHERE lower(application_name) = %s",
                    (app,),
                ).fetchone()
                done += row[0]  # type: ignore[index]
                total += head
    return done, total


def _projector(settings: Any, *args: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "PLATINUM_CIPHER_KEY": settings.cipher_key,
        "PLATINUM_DATA_DIR": str(settings.data_dir),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.projections.projector_proc", *args],
        cwd=ROOT, env=env,
    )  # fmt: skip


def _rebuild_from_zero(settings: Any, db: Database) -> None:
    reset_audit_log(db.owner.conninfo)  # the owner empties the append-only log
    runners = make_runners(settings, db)
    try:
        for r in runners:
            r.rebuild()
    finally:
        close_runners(runners)


def test_killed_projector_resumes_to_the_same_tables_as_a_rebuild(crash_db: Any) -> None:
    settings, db = crash_db
    # a slow projector, killed with SIGKILL somewhere in the middle of the stream
    proc = _projector(settings, "--batch", "20", "--delay", "0.01")
    wait_until(lambda: proc.poll() is not None or (p := _progress(db))[0] >= p[1] * 0.2, 30,
               interval=0.02, message="a fifth of the events projected")  # fmt: skip
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done, total = _progress(db)
    assert 0 < done < total, "the kill must land mid-stream"

    # restart: it resumes from the committed positions and finishes
    restarted = _projector(settings)
    assert restarted.wait(timeout=60) == 0
    assert _progress(db)[0] == total
    resumed = dump(db.system.conninfo)

    # one uninterrupted pass from zero gives the same rows, hashes included
    _rebuild_from_zero(settings, db)
    rebuilt = dump(db.system.conninfo)
    assert {t: len(rows) for t, rows in rebuilt.items()} == {
        t: len(rows) for t, rows in resumed.items()
    }
    assert rebuilt == resumed
    assert all(rows for rows in rebuilt.values())
    with psycopg.connect(db.system.conninfo) as conn:
        assert verify_chain(conn).ok
