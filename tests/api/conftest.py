"""Fixtures of the API tests: each module's own tenant, its users, and a tenant to stay out of."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ADMIN_TOKEN, create_database, drop_database
from tests.factories import TenantCtx, UserCtx, create_tenant, create_users
from tests.support.servers import free_port, served_in_thread, stop, wait_healthy

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tenant(client) -> TenantCtx:  # type: ignore[no-untyped-def]
    """A tenant of this test module, its first admin logged in."""
    return create_tenant(client)


@pytest.fixture(scope="module")
def users(client, tenant: TenantCtx) -> dict[str, UserCtx]:  # type: ignore[no-untyped-def]
    """One logged-in user of ``tenant`` per built-in role."""
    return create_users(client, tenant)


@pytest.fixture(scope="module")
def other_tenant(client) -> TenantCtx:  # type: ignore[no-untyped-def]
    """A second tenant of this test module, whose data ``tenant`` must never reach."""
    return create_tenant(client)


@pytest.fixture(scope="module")
def live_url(container) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The session's app served by uvicorn on a loopback port: for clients over real HTTP."""
    from api.app import create_app

    with served_in_thread(create_app(container)) as base:
        yield base


@pytest.fixture
def live_server(pg_server, tmp_path) -> Iterator[tuple[str, dict[str, str]]]:  # type: ignore[no-untyped-def]
    """``platinum serve`` (API + in-process worker, projector, dispatcher) on a fresh database."""
    info = create_database(pg_server, prefix="platinum_readme")
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": info.conninfo,
        "PLATINUM_DATA_DIR": str(tmp_path / "data"),
        "PLATINUM_ADMIN_TOKEN": ADMIN_TOKEN,
        "PLATINUM_LOG_LEVEL": "WARNING",
    }
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(proc, base, log=tmp_path / "serve.log")
        yield base, env
    finally:
        stop(proc)
        log.close()
        drop_database(pg_server, info)
