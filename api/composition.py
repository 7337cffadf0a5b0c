"""The composition root: builds the applications, pools and background services of a process."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from api.database import ConnInfo, Database
from api.persistence import check_cheaply
from api.readdb import open_pool, tenant_tx
from api.settings import Settings

log = logging.getLogger(__name__)


def application_classes() -> list[type]:
    """Every event-sourced application, one events table each."""
    from domain.platform import Platform

    classes: list[type] = [Platform]
    try:
        from domain.runs.application import Runs  # type: ignore[import-not-found,unused-ignore]
    except ImportError:  # the runs application arrives with the engine's runtime
        pass
    else:
        classes.append(Runs)
    return classes


@dataclass
class Container:
    """What one process holds: settings, database credentials, applications and pools."""

    settings: Settings
    db: Database
    platform: Any
    read_pool: ConnectionPool[psycopg.Connection[dict[str, Any]]]
    background: list[Any] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    runs: Any = None  # domain.runs.application.Runs with the engine's planner (None: no runtime)
    # one system-role connection at most, for /readyz's projection status (none while idle)
    status_pool: ConnectionPool[psycopg.Connection[Any]] | None = None

    @classmethod
    def build(cls, settings: Settings, db: Database, *, role: ConnInfo | None = None) -> Container:
        from domain.platform import Platform

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
        platform = Platform(env=env, **_platform_kwargs(read_pool))
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
                   status_pool=status_pool)  # fmt: skip

    def projection_lag(self) -> dict[str, Any]:
        """Events behind the head, per projection (empty when none runs here or in the db)."""
        return self.projection_status()[0]

    def projection_status(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The lag per projection, and the projections stuck on an event (system role)."""
        from projections.status import projection_failures, projection_lag

        if self.status_pool is None:  # pragma: no cover - built by ``build``
            with psycopg.connect(self.db.system.conninfo, autocommit=True) as conn:
                return projection_lag(conn), projection_failures(conn)
        # a pooled connection: an anonymous caller opens none (and waits 1 s at most)
        with self.status_pool.connection() as conn:
            return projection_lag(conn), projection_failures(conn)

    def parked_events(self) -> list[dict[str, Any]]:
        """Events the projections parked, counted per projection and application."""
        from projections.status import projection_parked

        if self.status_pool is None:  # pragma: no cover - built by ``build``
            with psycopg.connect(self.db.system.conninfo, autocommit=True) as conn:
                return projection_parked(conn)
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
        from projections.status import wait_for

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

    def event_apps(self) -> dict[str, Any]:
        """The event-sourced applications by name (``platform``, ``runs``), for history reads."""
        apps = {"platform": self.platform}
        if self.runs is not None:
            apps["runs"] = self.runs
        return apps

    def close(self) -> None:
        for service in reversed(self.background):
            service.stop()
        self.background.clear()
        self.read_pool.close()
        if self.status_pool is not None:
            self.status_pool.close()
        if self.runs is not None:
            self.runs.close()
        self.platform.close()


def _platform_kwargs(read_pool: Any = None) -> dict[str, Any]:
    """The domain takes the engine's definition validator through its constructor.

    It is the one check behind create, PUT and ``POST /v1/workflows/validate``: with a read
    pool it also resolves ``skill:<name>[@range]`` against the tenant's active installations.
    """
    try:
        from engine.definition.validation import validate_definition
    except ImportError:
        return {}

    def validator(definition: dict[str, Any], tenant_id: Any = None) -> list[tuple[str, str]]:
        resolver = None
        if read_pool is not None and tenant_id is not None:
            resolver = installed_skills(read_pool, tenant_id)
        problems = validate_definition(definition, skill_resolver=resolver)
        return [(p.pointer, p.message) for p in problems]

    return {"definition_validator": validator}


def installed_skills(read_pool: Any, tenant_id: Any) -> Any:
    """A skill resolver for validation: is ``name`` (matching the range) installed and active
    in the tenant? Read from the read model under the tenant's row-level security."""
    from engine.steps.skills import matches
    from projections.queries.skills import active_versions

    def resolve(name: str, version_range: str | None) -> bool | str:
        with tenant_tx(read_pool, tenant_id) as conn:
            versions = active_versions(conn, name)
        try:
            return any(matches(version, version_range) for version in versions)
        except ValueError as e:
            return f"'{version_range}' is not a usable semver range: {e}"

    return resolve


def configure_expressions(settings: Settings) -> None:
    """The budgets of bounded evaluation in this process (docs/security.md)."""
    from engine.definition.budget import configure_evaluation
    from engine.definition.sandbox import Limits

    configure_evaluation(
        Limits(timeout_s=settings.expression_timeout_s, memory_mb=settings.expression_memory_mb),
        advance_budget_s=settings.expression_pass_budget_s,
    )


def _build_runs(
    db: Database, env: dict[str, str], platform: Any, *, fail_fast: bool = False
) -> Any:
    """The ``Runs`` application (API side): the engine's planner and task-recording store."""
    try:
        from domain.runs.application import Runs
        from engine.runtime.task_store import runs_env
        from engine.scheduling.planner import EnginePlanner, platform_definitions
        from engine.steps.skills import PlatformSkills
        from projections.queries.skills import InstalledSkills
    except ImportError:  # the engine's runtime is not installed in this build
        return None
    planner = EnginePlanner(
        platform_definitions(platform),
        # installations are found across tenants by the system role, then read from events
        skills=PlatformSkills(platform, InstalledSkills(db.system.conninfo)),
        # a run start evaluates only what is cheap; a costly first advance is a worker's
        defer_costly_start=True,
    )
    env = runs_env(env)
    if fail_fast:
        from api.persistence import FAIL_FAST_TASK_RECORDER_TOPIC

        env["RUNS_APPLICATION_RECORDER_TOPIC"] = FAIL_FAST_TASK_RECORDER_TOPIC
    return Runs(env=env, planner=planner)
