"""Projection tests run on a database of their own (no in-process projector of the session
``container`` races them), with both applications: ``platform`` and ``runs``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest
from argon2 import PasswordHasher

from api.database import ConnInfo, Database
from domain.runs.application import Runs
from tests.conftest import create_database, drop_database, make_settings
from tests.support.doubles import PASSWORD


def app_classes() -> list[type]:
    from domain.platform import Platform

    return [Platform, Runs]


@pytest.fixture(scope="session")
def proj_settings(pg_server: ConnInfo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    info = create_database(pg_server, prefix="platinum_proj")
    yield make_settings(info, tmp_path_factory.mktemp("proj-data"))
    drop_database(pg_server, info)


@pytest.fixture(scope="session")
def proj_db(proj_settings: Any) -> Database:
    from api.database_setup import upgrade

    return upgrade(proj_settings, app_classes())


@dataclass
class Apps:
    platform: Any
    runs: Any

    def by_name(self) -> dict[str, Any]:
        return {"platform": self.platform, "runs": self.runs}

    def close(self) -> None:
        self.platform.close()
        self.runs.close()


def open_apps(settings: Any, conn: ConnInfo) -> Apps:
    """The applications as the API process writes with them: role platinum_system."""
    from domain.platform import Platform

    env = conn.eventsourcing_env(settings)
    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    return Apps(Platform(env=env, password_hasher=cheap), Runs(env=env))


@pytest.fixture(scope="session")
def apps(proj_settings: Any, proj_db: Database) -> Iterator[Apps]:
    a = open_apps(proj_settings, proj_db.system)
    yield a
    a.close()


def make_runners(settings: Any, db: Database, *, batch_size: int = 500) -> list[Any]:
    """One runner per (projection, application), on the system role, like the service; the
    applications are shared between projections and pools kept small."""
    from api.background import projection_view
    from projections.registry import PROJECTIONS
    from projections.runner import ProjectionRunner

    small = settings.model_copy(update={"pool_size": 1, "pool_max_overflow": 2})
    env = db.system.eventsourcing_env(small)
    apps = {"platform": app_classes()[0](env=env), "runs": Runs(env=env)}
    runners = []
    for name, (cls, app_names) in PROJECTIONS.items():
        view = projection_view(small, db.system, name)
        for app_name in app_names:
            runners.append(ProjectionRunner(apps[app_name], cls(), view, batch_size=batch_size))
    return runners


def close_runners(runners: list[Any]) -> None:
    for r in runners:
        r.app.close()
        r.view.datastore.close()


def catch_up(settings: Any, db: Database) -> None:
    runners = make_runners(settings, db)
    try:
        for r in runners:
            r.catch_up()
    finally:
        close_runners(runners)


# --- data in every table ------------------------------------------------------------------------


@dataclass
class TenantData:
    tenant_id: UUID
    slug: str
    admin_id: UUID
    user_id: UUID
    workflow_id: UUID
    run_ids: list[UUID]


def seed_roles(apps: Apps) -> list[Any]:
    return apps.platform.seed_builtin_roles()  # type: ignore[no-any-return]


def publish_skill(apps: Apps) -> UUID:
    from domain.marketplace.commands import PublishSkill

    p = apps.platform
    skill = p.publish_skill(
        PublishSkill(name="Echo skill", category="utility", definition={"config_schema": {
            "type": "object"}}, description="echoes", price="1.50", author="ACME")
    )  # fmt: skip
    p.approve_skill(skill.id)
    return skill.id  # type: ignore[no-any-return]


def populate_tenant(
    apps: Apps, skill_id: UUID, *, runs: int = 1, steps: int = 3, config_edits: int = 2
) -> TenantData:
    """A tenant with rows in every tenant-scoped table, through the domain's commands."""
    from domain.audit.sensitive_reads import record_sensitive_read
    from domain.identity.commands import (
        CreateApiKey,
        CreateTenant,
        Login,
        RegisterUser,
        SetPreference,
        SetUserRoles,
    )
    from domain.kernel.actor import Actor, acting_as
    from domain.marketplace.commands import InstallSkill
    from domain.messaging.commands import RecordConversation, SendNotification
    from domain.runs.run import Run
    from domain.triggers.commands import CreateHook, CreateSchedule, UpdateSchedule
    from domain.workflows.commands import CreateWorkflow, UpdateDefinition

    p = apps.platform
    slug = f"t-{uuid.uuid4().hex[:10]}"
    created = p.create_tenant(
        CreateTenant(name=f"Tenant {slug}", slug=slug, admin_email="ada@example.com",
                     admin_password=PASSWORD, config={"theme": "dark"})
    )  # fmt: skip
    tid, admin = created.tenant.id, created.admin
    actor = Actor(user_id=str(admin.id), tenant_id=str(tid), ip="203.0.113.7",
                  user_agent="pytest", request_id=f"req-{slug}", kind="user")  # fmt: skip
    with acting_as(actor):
        for i in range(config_edits):
            p.set_tenant_config(tid, "limit", i)
        p.set_tenant_config(tid, "gone", True)
        p.unset_tenant_config(tid, "gone")
        user = p.register_user(
            RegisterUser(
                tenant_id=tid,
                email="bob@example.com",
                name="Bob",
                password="another good one",
                role="manager",
            )
        )
        roles = [r.id for r in p.seed_builtin_roles()[:2]]
        p.set_user_roles(
            SetUserRoles(tenant_id=tid, user_id=user.id, role_ids=roles, assigned_by=admin.id)
        )
        p.login(
            Login(
                tenant_slug=slug,
                email="bob@example.com",
                password="another good one",
                ttl=timedelta(hours=1),
            )
        )
        p.create_api_key(CreateApiKey(tenant_id=tid, name="ci", role="user", created_by=admin.id))
        p.set_preference(SetPreference(tenant_id=tid, user_id=user.id, key="lang", value="en"))
        p.delete_preference(tid, user.id, "lang")
        p.set_preference(SetPreference(tenant_id=tid, user_id=user.id, key="lang", value="fr"))
        p.set_preference(SetPreference(tenant_id=tid, user_id=user.id, key="tz", value="UTC"))
        wf = p.create_workflow(
            CreateWorkflow(
                tenant_id=tid, name="Flow", definition={"steps": [{"id": "a"}]}, created_by=admin.id
            )
        )
        p.update_definition(
            UpdateDefinition(
                tenant_id=tid,
                workflow_id=wf.id,
                definition={"steps": [{"id": "a"}, {"id": "b"}]},
                updated_by=admin.id,
            )
        )
        p.activate_workflow(tid, wf.id)
        s = p.create_schedule(
            CreateSchedule(
                tenant_id=tid,
                workflow_id=wf.id,
                cron="0 9 * * 1-5",
                timezone="Europe/Paris",
                input={"n": 1},
            )
        )
        p.update_schedule(
            UpdateSchedule(tenant_id=tid, schedule_id=s.id, changes={"status": "paused"})
        )
        p.create_hook(CreateHook(tenant_id=tid, workflow_id=wf.id, mapping="input.order"))
        p.install_skill(
            InstallSkill(tenant_id=tid, skill_id=skill_id, config={"x": 1}, installed_by=admin.id)
        )
        n = p.send_notification(
            SendNotification(
                tenant_id=tid,
                recipient_user_id=user.id,
                type="info",
                title="Hello",
                message="Hi Bob",
                channel="email",
                priority="high",
            )
        )
        p.mark_notification_sent(tid, n.id, provider_id="smtp-1")
        p.mark_notification_read(tid, n.id)
        p.record_conversation(
            RecordConversation(
                tenant_id=tid,
                user_id=user.id,
                session_id="s-1",
                input_text="hi",
                output_text="hello",
                context_data={"k": 1},
            )
        )
        record_sensitive_read(
            p, tenant_id=tid, resource_type="user", resource_id=user.id, fields=["email"]
        )
        run_ids = []
        for _ in range(runs):
            step_ids = [f"s{i}" for i in range(steps)]
            run = Run.start(
                tenant_id=str(tid),
                workflow_id=str(wf.id),
                workflow_version=2,
                definition_hash="h" * 64,
                step_ids=step_ids,
                input={"n": 1.5},
                started_by=str(admin.id),
                trigger={"kind": "schedule", "id": "x"},
            )
            for sid in step_ids[:-1]:
                run.schedule_step(sid, None, 1, None, {"in": sid})
                run.complete_step(sid, None, 1, {"out": sid}, worker_id="w1")
            run.expand_foreach(step_ids[-1], [1, 2])
            run.schedule_step(step_ids[-1], 0, 1, None, {"item": 1})
            run.complete_step(step_ids[-1], 0, 1, {"ok": True})
            run.fail_step(step_ids[-1], 1, 0, error_kind="boom", message="no", retryable=False)
            run.cancel("enough")
            apps.runs.save(run)
            run_ids.append(run.id)
    return TenantData(tid, slug, admin.id, user.id, wf.id, run_ids)


def dump(conninfo: str) -> dict[str, list[str]]:
    """Every projected row of every table, as canonical JSON text, in a stable order."""
    from projections.readmodel.projection import TABLES

    tables = [t for ts in TABLES.values() for t in ts] + ["audit_events"]
    with psycopg.connect(conninfo) as conn:
        return {
            t: [r[0] for r in conn.execute(f"SELECT to_jsonb(x)::text FROM {t} x ORDER BY 1")]
            for t in tables
        }


@pytest.fixture(scope="module")
def tenant(proj_settings: Any, proj_db: Database, apps: Apps) -> TenantData:
    """A tenant of this test module with rows in every tenant-scoped table, projected."""
    t = populate_tenant(apps, publish_skill(apps))
    catch_up(proj_settings, proj_db)
    return t


@pytest.fixture(scope="module")
def two_tenants(proj_settings: Any, proj_db: Database, apps: Apps) -> tuple[TenantData, TenantData]:
    """Two such tenants of this test module (one skill installed by both), projected."""
    skill_id = publish_skill(apps)
    a, b = populate_tenant(apps, skill_id), populate_tenant(apps, skill_id)
    catch_up(proj_settings, proj_db)
    return a, b
