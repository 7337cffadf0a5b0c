"""The composition root: the ``Container`` of a process (settings, applications, pools), built."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

import psycopg
from eventsourcing.application import Application
from psycopg_pool import ConnectionPool

from api.database import ConnInfo, Database
from api.persistence import FAIL_FAST_TASK_RECORDER_TOPIC, check_cheaply
from api.readdb import open_pool, tenant_tx
from api.settings import Settings
from api.telemetry import Telemetry
from api.telemetry import build as build_telemetry
from api.telemetry import install as install_telemetry
from domain.kernel.application import DefinitionValidator
from domain.kernel.errors import Problem
from domain.platform import Platform
from domain.runs.application import Runs
from engine.definition.budget import configure_evaluation
from engine.definition.ranges import matches
from engine.definition.sandbox import Limits
from engine.definition.validation import validate_definition
from engine.runtime.task_store import runs_env
from engine.scheduling.planner import EnginePlanner, platform_definitions
from engine.steps.skills import PlatformSkills
from projections.queries.skills import InstalledSkills, active_versions
from projections.queries.subworkflows import resolve_named
from projections.status import projection_failures, projection_lag, projection_parked, wait_for

log = logging.getLogger(__name__)


def application_classes() -> list[type[Application[UUID]]]:
    """Every event-sourced application, one events table each."""
    return [Platform, Runs]


class BackgroundService(Protocol):
    """A thread (or group of threads) a process runs beside its requests; ``liveness()``,
    when it has one, reports its loops' heartbeats (``api.background.liveness``)."""

    def stop(self) -> None: ...


@dataclass
class Container:
    """What one process holds: settings, database credentials, applications and pools."""

    settings: Settings
    db: Database
    platform: Platform
    runs: Runs  # with the engine's planner
    read_pool: ConnectionPool[psycopg.Connection[dict[str, Any]]]
    # one system-role connection at most, for /readyz's projection status (none while idle)
    status_pool: ConnectionPool[psycopg.Connection[Any]]
    background: list[BackgroundService] = field(default_factory=list)
    telemetry: Telemetry | None = None  # tracing on (api/telemetry.py); None: off

    @classmethod
    def build(
        cls,
        settings: Settings,
        db: Database,
        *,
        role: ConnInfo | None = None,
        telemetry: Telemetry | None = None,
    ) -> Container:
        """``telemetry``: the tracing to use (tests); by default the settings' (installed as
        the process's global tracer provider), None when tracing is off."""
        if telemetry is None and (telemetry := build_telemetry(settings)) is not None:
            install_telemetry(telemetry)
        conn = role or db.api
        # Events (commands, history) through the system role: the API's role has no privilege
        # on event or snapshot tables. Read-model queries through the API's role, under RLS.
        # The API's request path fails fast (503): no retries inside the event store library.
        env = db.system.eventsourcing_env(settings, fail_fast=role is None)
        read_pool = open_pool(
            conn.conninfo, settings.read_pool_size, timeout=settings.pool_timeout_s,
            connect_timeout=settings.connect_timeout_s,
            reconnect_timeout=settings.reconnect_timeout_s,
        )  # fmt: skip
        platform = Platform(env=env, definition_validator=definition_validator(read_pool))
        configure_expressions(settings)
        runs = _build_runs(db, env, platform, fail_fast=role is None)
        status_pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            db.system.conninfo, min_size=0, max_size=1, open=True, name="status",
            kwargs={"autocommit": True,
                    "connect_timeout": max(1, round(settings.connect_timeout_s))},
            timeout=settings.pool_timeout_s, reconnect_timeout=settings.reconnect_timeout_s,
            check=check_cheaply, max_idle=60.0,
        )  # fmt: skip
        return cls(settings=settings, db=db, platform=platform, read_pool=read_pool, runs=runs,
                   status_pool=status_pool, telemetry=telemetry)  # fmt: skip

    def projection_lag(self) -> dict[str, Any]:
        """Events behind the head, per projection (empty when none runs here or in the db)."""
        return self.projection_status()[0]

    def projection_status(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The lag per projection, and the projections stuck on an event (system role)."""
        # a pooled connection: an anonymous caller opens none (and waits 1 s at most)
        with self.status_pool.connection() as conn:
            return projection_lag(conn), projection_failures(conn)

    def parked_events(self) -> list[dict[str, Any]]:
        """Events the projections parked, counted per projection and application."""
        with self.status_pool.connection() as conn:  # pooled, like the status above
            return projection_parked(conn)

    def wait_projected(
        self, notification_id: int | None, timeout: float | None = None, *, app: str = "platform"
    ) -> None:
        """Read-your-writes: block until the read model has caught up with this event.

        Called after a write was committed: whatever happens here (the wait times out, the
        read model's database is away), the write stands and its answer must say so, so
        nothing is raised; a client that saw an error would write again (a duplicate).
        """
        if notification_id is None:
            return
        try:
            caught_up = wait_for(
                self.read_pool.connection,
                app,
                notification_id,
                timeout=self.settings.projection_wait_s if timeout is None else timeout,
            )
        except Exception as exc:
            log.warning("read-your-writes wait for event %s of %s failed (%s: %s); the write "
                        "stands, reads may be stale", notification_id, app,
                        type(exc).__name__, exc)  # fmt: skip
            return
        if not caught_up:
            log.warning(
                "read model is behind event %s of %s after the wait; reads may be stale",
                notification_id,
                app,
            )

    def wait_caught_up(self, app: str = "platform") -> None:
        """Read-your-writes after a committed write: wait for ``app``'s head; never raises."""
        application = self.event_apps().get(app)
        if application is None:
            return
        try:
            head = application.recorder.max_notification_id()
        except Exception as exc:  # the write stands: answer it; reads may be stale
            log.warning("head of %s unknown after a write (%s: %s)", app,
                        type(exc).__name__, exc)  # fmt: skip
            return
        self.wait_projected(head, app=app)

    def event_apps(self) -> dict[str, Application[UUID]]:
        """The event-sourced applications by name (``platform``, ``runs``), for history reads."""
        return {"platform": self.platform, "runs": self.runs}

    def close(self) -> None:
        for service in reversed(self.background):
            service.stop()
        self.background.clear()
        self.read_pool.close()
        self.status_pool.close()
        self.runs.close()
        self.platform.close()
        if self.telemetry is not None:
            self.telemetry.shutdown()  # export what is buffered


def definition_validator(
    read_pool: ConnectionPool[psycopg.Connection[dict[str, Any]]] | None = None,
) -> DefinitionValidator:
    """The domain takes the engine's definition validator through its constructor.

    It is the one check behind create, PUT and ``POST /v1/workflows/validate``; with a read
    pool and a tenant it also resolves ``skill:<name>[@range]`` against the tenant's active
    installations (without, as in the benchmarks, skills are not looked up).
    """

    def validator(definition: dict[str, Any], tenant_id: UUID | None) -> list[Problem]:
        resolver = workflows = None
        if read_pool is not None and tenant_id is not None:
            resolver = installed_skills(read_pool, tenant_id)
            workflows = named_workflows(read_pool, tenant_id)
        return validate_definition(definition, skill_resolver=resolver, workflow_resolver=workflows)

    return validator


def installed_skills(
    read_pool: ConnectionPool[psycopg.Connection[dict[str, Any]]], tenant_id: UUID
) -> Callable[[str, str | None], bool | str]:
    """A skill resolver for validation: is ``name`` (matching the range) installed and active
    in the tenant? Read from the read model under the tenant's row-level security."""

    def resolve(name: str, version_range: str | None) -> bool | str:
        with tenant_tx(read_pool, tenant_id) as conn:
            versions = active_versions(conn, name)
        try:
            return any(matches(version, version_range) for version in versions)
        except ValueError as e:
            return f"'{version_range}' is not a usable semver range: {e}"

    return resolve


def named_workflows(
    read_pool: ConnectionPool[psycopg.Connection[dict[str, Any]]], tenant_id: UUID
) -> Callable[[str, int | None], dict[str, Any] | str]:
    """A workflow resolver for validation (``workflow:<name>[@version]`` steps), read from
    the read model under the tenant's row-level security."""

    def resolve(name: str, version: int | None) -> dict[str, Any] | str:
        with tenant_tx(read_pool, tenant_id) as conn:
            return resolve_named(conn, tenant_id, name, version)

    return resolve


def configure_expressions(settings: Settings) -> None:
    """The budgets of bounded evaluation in this process (docs/security.md)."""
    configure_evaluation(
        Limits(timeout_s=settings.expression_timeout_s, memory_mb=settings.expression_memory_mb),
        advance_budget_s=settings.expression_pass_budget_s,
    )


def _build_runs(
    db: Database, env: dict[str, str], platform: Platform, *, fail_fast: bool = False
) -> Runs:
    """The ``Runs`` application (API side): the engine's planner and task-recording store."""
    planner = EnginePlanner(
        platform_definitions(platform),
        # installations are found across tenants by the system role, then read from events
        skills=PlatformSkills(platform, InstalledSkills(db.system.conninfo)),
        # a run start evaluates only what is cheap; a costly first advance is a worker's
        defer_costly_start=True,
    )
    env = runs_env(env)
    if fail_fast:
        env["RUNS_APPLICATION_RECORDER_TOPIC"] = FAIL_FAST_TASK_RECORDER_TOPIC
    return Runs(env=env, planner=planner)
