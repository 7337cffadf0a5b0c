"""The composition root: builds the applications, pools and background services of a process."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from api.database import ConnInfo, Database
from api.readdb import open_pool
from api.settings import Settings

log = logging.getLogger(__name__)


def application_classes() -> list[type]:
    """Every event-sourced application, one events table each."""
    from domain.application import Platform

    classes: list[type] = [Platform]
    try:
        from domain.app_runs import Runs  # type: ignore[import-not-found,unused-ignore]
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
    runs: Any = None  # domain.app_runs.Runs with the engine's planner (None: no runtime)

    @classmethod
    def build(cls, settings: Settings, db: Database, *, role: ConnInfo | None = None) -> Container:
        from domain.application import Platform

        conn = role or db.api
        env = conn.eventsourcing_env(settings)
        platform = Platform(env=env, **_platform_kwargs())
        read_pool = open_pool(conn.conninfo, settings.read_pool_size)
        configure_expressions(settings)
        runs = _build_runs(db, env, platform)
        return cls(settings=settings, db=db, platform=platform, read_pool=read_pool, runs=runs)

    def projection_lag(self) -> dict[str, Any]:
        """Events behind the head, per projection (empty when none runs here or in the db)."""
        return self.projection_status()[0]

    def projection_status(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The lag per projection, and the projections stuck on an event (system role)."""
        from projections.status import projection_failures, projection_lag

        with psycopg.connect(self.db.system.conninfo, autocommit=True) as conn:
            return projection_lag(conn), projection_failures(conn)

    def wait_projected(
        self, notification_id: int | None, timeout: float | None = None, *, app: str = "platform"
    ) -> None:
        """Read-your-writes: block until the read model has caught up with this event."""
        if notification_id is None:
            return
        from projections.status import wait_for

        caught_up = wait_for(
            self.read_pool.connection,
            app,
            notification_id,
            timeout=self.settings.projection_wait_s if timeout is None else timeout,
        )
        if not caught_up:
            log.warning(
                "read model is behind event %s of %s after the wait; reads may be stale",
                notification_id,
                app,
            )

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
        if self.runs is not None:
            self.runs.close()
        self.platform.close()


def _platform_kwargs() -> dict[str, Any]:
    """The domain takes the engine's definition validator through its constructor."""
    try:
        from engine.validation import validate_definition
    except ImportError:
        return {}

    def validator(definition: dict[str, Any], _tenant_id: Any = None) -> list[tuple[str, str]]:
        return [(p.pointer, p.message) for p in validate_definition(definition)]

    return {"definition_validator": validator}


def configure_expressions(settings: Settings) -> None:
    """The budgets of bounded evaluation in this process (docs/security.md)."""
    from engine.expressions import configure_evaluation
    from engine.sandbox import Limits

    configure_evaluation(
        Limits(timeout_s=settings.expression_timeout_s, memory_mb=settings.expression_memory_mb),
        advance_budget_s=settings.expression_pass_budget_s,
    )


def _build_runs(db: Database, env: dict[str, str], platform: Any) -> Any:
    """The ``Runs`` application (API side): the engine's planner and task-recording store."""
    try:
        from domain.app_runs import Runs
        from engine.kinds.skills import PlatformSkills
        from engine.queue import runs_env
        from engine.service import EnginePlanner, platform_definitions
    except ImportError:  # the engine's runtime is not installed in this build
        return None
    planner = EnginePlanner(
        platform_definitions(platform),
        # installations are found across tenants by the system role, then read from events
        skills=PlatformSkills(platform, db.system.conninfo),
        # a run start evaluates only what is cheap; a costly first advance is a worker's
        defer_costly_start=True,
    )
    return Runs(env=runs_env(env), planner=planner)
