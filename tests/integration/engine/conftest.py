"""Engine fixtures: a Platform, a tenant with a manager, a Runs app (API side), a worker."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.integration.engine.support import LocalServer
from tests.support.doubles import CHEAP_HASHER, PASSWORD
from tests.support.polling import wait_until


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


def build_engine(settings, db, worker_config: Any = None) -> Engine:  # type: ignore[no-untyped-def]
    """A Platform, a tenant with an admin and a manager, a Runs app and a started worker whose
    HTTP client has the egress policy of ``settings``."""
    from domain.identity.commands import CreateTenant, RegisterUser
    from domain.platform import Platform
    from engine.runtime.worker import WorkerConfig, build_worker
    from engine.scheduling.planner import build_runs
    from engine.steps import egress
    from projections.queries.skills import InstalledSkills
    from projections.queries.subworkflows import WorkflowsByName

    env = db.system.eventsourcing_env(settings)
    platform = Platform(env=env, password_hasher=CHEAP_HASHER)
    made = platform.create_tenant(
        CreateTenant(
            name="Engine",
            slug=f"engine-{uuid.uuid4().hex[:8]}",
            admin_email="ada@engine-example.com",
            admin_password=PASSWORD,
        )
    )
    tenant_id = made.tenant.id
    manager = platform.register_user(
        RegisterUser(
            tenant_id=tenant_id,
            email="max@engine-example.com",
            name="Max",
            password=PASSWORD,
            role="manager",
        )
    )
    catalog = InstalledSkills(db.system.conninfo)
    runs = build_runs(env, platform=platform, skill_catalog=catalog)
    before = egress.default_policy()
    egress.configure(settings.egress_policy())  # the test settings allow loopback explicitly
    try:
        worker = build_worker(
            env,
            db.system.conninfo,
            platform=platform,
            skill_catalog=catalog,
            config=worker_config or WorkerConfig(concurrency=16, lease_s=5.0),
            workflow_catalog=WorkflowsByName(db.system.conninfo),  # workers of one database
        ).start()  # serve every run's steps alike: sub-workflows included
    finally:
        egress.configure(before)
    return Engine(platform, runs, worker, tenant_id, made.admin.id, manager.id)


def close_engine(e: Engine) -> None:
    e.worker.stop()
    e.runs.close()
    e.platform.close()


@pytest.fixture(scope="package")
def engine(settings, db) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    """Its worker stops when the package's tests are done, so none claims another package's
    runs in the same database (tests/api/test_tracing.py checks which worker ran its step)."""
    e = build_engine(settings, db)
    yield e
    close_engine(e)


def run_when(
    engine: Engine,
    run_id: uuid.UUID,
    until: Callable[[Any], object] | None = None,
    *,
    timeout: float = 20,
    tenant_id: uuid.UUID | None = None,
) -> Any:
    """The run as soon as ``until(run)`` holds (by default: the run is done), read through the
    API-side Runs app; fails the test, naming the run's last state, after ``timeout`` seconds."""
    return wait_until(
        lambda: engine.runs.get_run(tenant_id or engine.tenant_id, run_id),
        timeout,
        until=until or (lambda run: run.is_done),
        message=f"run {run_id}",
    )


@pytest.fixture(scope="module")
def linked(container):  # type: ignore[no-untyped-def]
    """A tenant, the API container's projector and an in-process worker, for run links."""
    from tests.integration.engine.links import linked_engine

    yield from linked_engine(container)
