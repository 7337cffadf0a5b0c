"""Engine fixtures: a Platform, a tenant with a manager, a Runs app (API side), a worker."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from argon2 import PasswordHasher

from tests.integration.engine.support import LocalServer


@dataclass
class Engine:
    platform: Any
    runs: Any
    worker: Any
    tenant_id: uuid.UUID
    admin_id: uuid.UUID
    manager_id: uuid.UUID


@pytest.fixture(scope="session")
def http_server() -> Iterator[LocalServer]:
    with LocalServer() as server:
        yield server


@pytest.fixture(scope="session")
def engine(settings, db) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    from domain.application import Platform
    from domain.commands import CreateTenant, RegisterUser
    from engine import egress
    from engine.service import build_runs
    from engine.worker import WorkerConfig, build_worker

    env = db.system.eventsourcing_env(settings)
    cheap = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    platform = Platform(env=env, password_hasher=cheap)
    made = platform.create_tenant(
        CreateTenant(name="Engine", slug=f"engine-{uuid.uuid4().hex[:8]}",
                     admin_email="ada@engine-example.com", admin_password="correct horse battery")
    )
    tenant_id = made.tenant.id
    manager = platform.register_user(
        RegisterUser(tenant_id=tenant_id, email="max@engine-example.com", name="Max",
                     password="correct horse battery", role="manager")
    )
    runs = build_runs(env, platform=platform, conninfo=db.system.conninfo)
    egress.configure(settings.egress_policy())  # loopback allowed: the test servers are there
    worker = build_worker(
        env, db.system.conninfo, platform=platform,
        config=WorkerConfig(concurrency=16, lease_s=5.0),
    ).start()
    yield Engine(platform, runs, worker, tenant_id, made.admin.id, manager.id)
    worker.stop()
    runs.close()
    platform.close()
