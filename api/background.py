"""Background services of a process (projectors, worker, dispatcher) and its connection budget."""

from __future__ import annotations

import logging
from typing import Any

from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.utils import Environment

from api.composition import Container, application_classes
from api.database import ConnInfo, Database
from api.settings import Settings
from projections.group import ProjectorGroup
from projections.registry import PROCESSES, PROJECTIONS
from projections.runner import ProjectionRunner
from projections.view import ProjectionView

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
    apps = {cls.name.lower(): cls for cls in application_classes()}
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
    for name, (process_cls, app_names) in PROCESSES.items():
        if names and name not in names:
            continue
        for app_name in {*app_names, *process_cls.uses}:  # the followed and the acted through
            if app_name not in shared:
                shared[app_name] = apps[app_name](env=env)
        view = projection_view(settings, db.system, name)
        process = process_cls(*(shared[n] for n in process_cls.uses))
        runners += [ProjectionRunner(shared[a], process, view, lock_conninfo=db.system.conninfo,
                                     park_after=settings.projection_park_after or None)
                    for a in app_names]  # fmt: skip
    return runners


def configure_egress(settings: Settings) -> Any:
    """Hand the platform's egress policy to the engine (clients made from now on use it)."""
    from engine.steps import egress

    policy = settings.egress_policy()
    egress.configure(policy)
    allowed = policy.allow.describe()
    if settings.embedded:
        log.warning(
            "egress: embedded mode (DATABASE_URL unset): http steps, skills and webhooks may"
            " reach loopback; allowed beyond public addresses: %s", allowed,
        )  # fmt: skip
    else:
        log.info("egress: allowed beyond public addresses: %s", allowed)
    return policy


def build_dispatcher(settings: Settings, db: Database, config: Any = None) -> Any:
    """A notification dispatcher on the system role (``engine.delivery.Dispatcher``)."""
    from domain.platform import Platform
    from engine.delivery import Dispatcher
    from engine.delivery.channels import default_channels

    policy = configure_egress(settings)
    app = Platform(env=db.system.eventsourcing_env(settings))
    return Dispatcher(
        app,
        db.system.conninfo,
        config,
        channels=lambda c: default_channels(c, policy),
        egress_policy=policy,  # narrowed per tenant by its egress.allow
    )


class _DispatcherService:
    def __init__(self, dispatcher: Any) -> None:
        self.dispatcher = dispatcher

    def liveness(self) -> dict[str, Any]:
        return self.dispatcher.liveness()

    def stop(self) -> None:
        self.dispatcher.stop()
        self.dispatcher.app.close()


class _RunnerService:
    def __init__(self, group: ProjectorGroup) -> None:
        self.group = group
        self.runners = group.runners

    def liveness(self) -> list[dict[str, Any]]:
        # the runners share the group's one thread: its heartbeat is theirs
        return [self.group.liveness()]

    def stop(self) -> None:
        self.group.stop()
        for r in self.runners:
            r.app.close()


def connection_budget(
    settings: Settings,
    *,
    api: bool = False,
    read: bool = False,
    projector: bool = False,
    worker: bool = False,
    dispatcher: bool = False,
    ticker: bool = False,
) -> dict[str, int]:
    """The most PostgreSQL connections each part of a process can hold (docs/scaling.md).

    Pools are shared per role within a process (api/persistence.py): the event store pool of
    the system role serves the projector, the worker and the dispatcher together."""
    pool = settings.pool_size + settings.pool_max_overflow
    parts: dict[str, int] = {}
    if api:
        parts["event store pool (api role)"] = pool
    if read:
        parts["read pool (api role)"] = settings.read_pool_size
        parts["readiness status (system role)"] = 1
    if projector or worker or dispatcher:
        parts["event store pool (system role)"] = pool
    if projector:
        parts["projector session (advisory locks, LISTEN)"] = 1
    if worker:
        parts["worker claimer (LISTEN) + heartbeat"] = 2
    if dispatcher:
        parts["dispatcher outbox + LISTEN"] = 2
    if ticker:  # and the process's event store pool, for the runs it starts
        parts["schedule ticker session (reads, advisory locks)"] = 1
    return parts


def check_budget(settings: Settings, kind: str, parts: dict[str, int]) -> int:
    """Log the process's connection budget; a budget over ``max_connections`` is refused."""
    total = sum(parts.values())
    detail = ", ".join(f"{name} {n}" for name, n in parts.items())
    log.info("platinum %s: connection budget %d of %d (%s)", kind, total,
             settings.max_connections, detail)  # fmt: skip
    if total > settings.max_connections:
        raise ValueError(
            f"the pools of `platinum {kind}` could hold {total} connections, over "
            f"PLATINUM_MAX_CONNECTIONS={settings.max_connections} ({detail})"
        )
    return total


def liveness(container: Container) -> list[dict[str, Any]]:
    """Each background component's liveness (its loops' last heartbeats), for /readyz and
    /metrics. A component without a ``liveness()`` is not reported."""
    out: list[dict[str, Any]] = []
    for service in list(container.background):
        probe = getattr(service, "liveness", None)
        if probe is None:
            continue
        found = probe()
        out.extend(found if isinstance(found, list) else [found])
    return out


def start_background(
    container: Container,
    *,
    projector: bool = True,
    worker: bool = True,
    worker_concurrency: int = 8,
    dispatcher: bool = True,
    ticker: bool = False,
) -> None:
    """Start the in-process services the flags ask for; ``container.close()`` stops them."""
    if projector:
        runners = build_projection_runners(container.settings, container.db)
        group = ProjectorGroup(
            runners, container.db.system.conninfo,
            connect_timeout_s=container.settings.connect_timeout_s,
        ).start()  # fmt: skip
        container.background.append(_RunnerService(group))
        container.background.append(start_checkpointer(container))
        container.background.append(start_retention(container))
    if worker:
        from engine.runtime.worker import WorkerConfig

        start_worker(container, WorkerConfig(concurrency=worker_concurrency))
    if dispatcher:
        service = build_dispatcher(container.settings, container.db).start()
        container.background.append(_DispatcherService(service))
    if ticker:
        start_ticker(container)


def start_ticker(container: Container) -> Any:
    """The schedule ticker (``api/ticker.py``) on the system role, in this process."""
    from api.ticker import Ticker

    ticker = Ticker(
        container.platform, container.runs, container.db.system.conninfo,
        connect_timeout_s=container.settings.connect_timeout_s, telemetry=container.telemetry,
    ).start()  # fmt: skip
    container.background.append(ticker)
    return ticker


def start_checkpointer(container: Container) -> Any:
    """The audit checkpoint loop (system role): signs each tenant's tree every N rows or T s."""
    from api.routes.audit import audit_signer, system_connection
    from projections.audit.checkpointer import Checkpointer

    settings = container.settings
    audit_signer(settings)  # a bad key fails the start, not the first pass
    return Checkpointer(
        system_connection(container), lambda: audit_signer(settings), settings.audit_log_origin,
        every_rows=settings.audit_checkpoint_rows, every_s=settings.audit_checkpoint_seconds,
    ).start()  # fmt: skip


def start_retention(container: Container) -> Any:
    """The retention sweep (system role): shreds finished runs past their tenant's age."""
    from api.routes.audit import system_connection
    from projections.retention import RetentionSweep

    return RetentionSweep(
        container.runs, system_connection(container),
        interval_s=container.settings.retention_sweep_seconds,
    ).start()  # fmt: skip


def start_worker(container: Container, config: Any = None) -> Any:
    """An in-process step worker (system role) attached to the container's lifetime."""
    from api.metrics import observe_step_duration
    from engine.runtime.worker import build_worker
    from projections.queries.skills import InstalledSkills
    from projections.queries.subworkflows import WorkflowsByName

    configure_egress(container.settings)  # the worker's HTTP client is made with this policy
    conn = container.db.system
    worker = build_worker(
        conn.eventsourcing_env(container.settings), conn.conninfo,
        platform=container.platform, config=config, observe=observe_step_duration,
        skill_catalog=InstalledSkills(conn.conninfo),
        workflow_catalog=WorkflowsByName(conn.conninfo),
        tracing=container.telemetry.engine() if container.telemetry is not None else None,
    )  # fmt: skip
    worker.start()
    container.background.append(worker)
    return worker
