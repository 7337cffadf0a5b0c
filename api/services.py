"""Background services of a process: projectors (and, as they land, workers and dispatchers)."""

from __future__ import annotations

import logging
from typing import Any

from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.utils import Environment

from api.container import Container, application_classes
from api.database import ConnInfo, Database
from api.settings import Settings
from projections.registry import PROJECTIONS
from projections.runner import ProjectionRunner, ProjectionView

log = logging.getLogger(__name__)


def projection_view(
    settings: Settings, conn: ConnInfo, name: str, *, create: bool = False
) -> ProjectionView:
    env = Environment(name, conn.eventsourcing_env(settings, create_table=create))
    factory: Any = InfrastructureFactory.construct(env=env)
    view: ProjectionView = factory.tracking_recorder(ProjectionView)
    return view


def build_projection_runners(
    settings: Settings, db: Database, *, names: list[str] | None = None
) -> list[ProjectionRunner]:
    """One runner per (projection, application) pair, on the system role."""
    apps = {cls.name.lower(): cls for cls in application_classes()}  # type: ignore[attr-defined]
    env = db.system.eventsourcing_env(settings)
    runners = []
    shared: dict[str, Any] = {}  # one application (one pool) per events table, not per runner
    for name, (projection_cls, app_names) in PROJECTIONS.items():
        if names and name not in names:
            continue
        view = projection_view(settings, db.system, name)
        for app_name in app_names:
            if app_name not in apps:
                continue
            if app_name not in shared:
                shared[app_name] = apps[app_name](env=env)
            app = shared[app_name]
            runners.append(
                ProjectionRunner(
                    app,
                    projection_cls(),
                    view,
                    lock_conninfo=db.system.conninfo,
                    park_after=settings.projection_park_after or None,
                )
            )
    return runners


def build_dispatcher(settings: Settings, db: Database, config: Any = None) -> Any:
    """A notification dispatcher on the system role (``engine.delivery.Dispatcher``)."""
    from domain.application import Platform
    from engine.delivery import Dispatcher

    app = Platform(env=db.system.eventsourcing_env(settings))
    return Dispatcher(app, db.system.conninfo, config)


class _DispatcherService:
    def __init__(self, dispatcher: Any) -> None:
        self.dispatcher = dispatcher

    def stop(self) -> None:
        self.dispatcher.stop()
        self.dispatcher.app.close()


class _RunnerService:
    def __init__(self, runners: list[ProjectionRunner]) -> None:
        self.runners = runners

    def stop(self) -> None:
        for r in self.runners:
            r.stop()
        for r in self.runners:
            r.app.close()


def start_background(
    container: Container,
    *,
    projector: bool = True,
    worker: bool = True,
    worker_concurrency: int = 8,
    dispatcher: bool = True,
) -> None:
    """Start the in-process services the flags ask for; ``container.close()`` stops them."""
    if projector:
        runners = build_projection_runners(container.settings, container.db)
        for r in runners:
            r.start()
        container.background.append(_RunnerService(runners))
    if worker:
        from engine.worker import WorkerConfig

        start_worker(container, WorkerConfig(concurrency=worker_concurrency))
    if dispatcher:
        service = build_dispatcher(container.settings, container.db).start()
        container.background.append(_DispatcherService(service))


def start_worker(container: Container, config: Any = None) -> Any:
    """An in-process step worker (system role) attached to the container's lifetime."""
    from engine.worker import build_worker

    conn = container.db.system
    worker = build_worker(
        conn.eventsourcing_env(container.settings), conn.conninfo,
        platform=container.platform, config=config,
    )  # fmt: skip
    worker.start()
    container.background.append(worker)
    return worker
