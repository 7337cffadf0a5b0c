"""``platinum serve|project|worker|dispatch|admin-token``: the long-running processes."""

from __future__ import annotations

import socket
import sys
from typing import Annotated

import typer

from api.cli import common


def admin_token() -> None:
    """Print the platform admin token, alone, on the last line of stdout."""
    typer.echo(common.settings().resolved_admin_token())


def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(help="In-process step-worker concurrency.")] = 8,
    no_worker: Annotated[bool, typer.Option("--no-worker", help="Run no step worker.")] = False,
    no_projector: Annotated[
        bool, typer.Option("--no-projector", help="Run no projector.")
    ] = False,
) -> None:
    """API + (by default) in-process worker, projector and dispatcher."""
    import uvicorn

    from api.app import create_app
    from api.background import connection_budget, start_background
    from api.composition import Container
    from api.database import install_sigterm_exit

    settings = common.settings()
    common.configure_logging(settings.log_level)
    # the port first: a busy one fails at once, before any database work or thread
    sock = _bind(host, port)
    parts = connection_budget(settings, api=True, read=True, projector=not no_projector,
                              worker=not no_worker, dispatcher=True, ticker=True)  # fmt: skip
    common.budget(settings, "serve", parts)
    # uvicorn re-raises the signal it caught after a graceful shutdown; with Python's default
    # SIGTERM action that would skip atexit, and with it the embedded server's stop.
    install_sigterm_exit()
    db = common.upgraded(settings)
    container = Container.build(settings, db)
    start_background(
        container, projector=not no_projector, worker=not no_worker, worker_concurrency=workers,
        ticker=True,
    )  # fmt: skip
    web = create_app(container, own_container=True)
    where = f"embedded PostgreSQL in {settings.data_dir}" if settings.embedded else "DATABASE_URL"
    scheme = "https" if settings.tls else "http"
    typer.echo(f"Platinum on {scheme}://{host}:{port}  (database: {where})")
    # the token is made now (first start) but never written to the service's output: logs
    # keep what they are given for good; `platinum admin-token` shows it
    settings.resolved_admin_token()
    typer.echo("platform admin token: run `platinum admin-token` to show it")
    typer.echo(f"connection budget: {sum(parts.values())} (PLATINUM_MAX_CONNECTIONS="
               f"{settings.max_connections})")  # fmt: skip
    sys.stdout.flush()
    config = uvicorn.Config(
        web, host=host, port=port, log_level=settings.log_level.lower(), access_log=False,
        **settings.uvicorn_tls(),  # type: ignore[arg-type]
    )  # fmt: skip
    uvicorn.Server(config).run(sockets=[sock])


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound now; a port in use is a one-line error and exit 1."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))  # uvicorn listens on it once the app is ready
    except OSError as e:
        sock.close()
        raise common.fail(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    return sock


def project() -> None:
    """Run the projection runners until stopped."""
    from api.background import connection_budget, start_background
    from api.composition import Container

    settings = common.settings()
    db = common.long_running(
        settings, "project", connection_budget(settings, read=True, projector=True)
    )
    container = Container.build(settings, db, role=db.system)
    start_background(container, projector=True, worker=False, dispatcher=False)
    try:
        common.until_interrupted()
    finally:
        container.close()


def schedule() -> None:
    """Run the schedule ticker until stopped (any number may run: one run per tick)."""
    from api.background import connection_budget, start_ticker
    from api.composition import Container

    settings = common.settings()
    parts = connection_budget(settings, read=True, worker=False, ticker=True)
    parts["event store pool (system role)"] = settings.pool_size + settings.pool_max_overflow
    db = common.long_running(settings, "schedule", parts)
    container = Container.build(settings, db, role=db.system)
    start_ticker(container)
    try:
        common.until_interrupted()
    finally:
        container.close()


def dispatch(
    concurrency: Annotated[int, typer.Option(help="Messages in flight at once.")] = 4,
    batch_size: Annotated[int, typer.Option(help="Outbox rows claimed per batch.")] = 20,
    lease_seconds: Annotated[float, typer.Option(help="Lease on claimed rows.")] = 30.0,
    max_attempts: Annotated[int, typer.Option(help="Attempts before giving up.")] = 8,
    backoff_seconds: Annotated[float, typer.Option(help="First retry delay (doubles).")] = 2.0,
    rate: Annotated[float, typer.Option(help="Default messages/s per tenant.")] = 20.0,
    burst: Annotated[int, typer.Option(help="Default burst per tenant.")] = 40,
    tenant: Annotated[
        list[str] | None, typer.Option(help="Serve only this tenant id (repeatable).")
    ] = None,
) -> None:
    """Deliver queued notifications (email, SMS, push, Slack, Discord) until stopped."""
    from uuid import UUID

    from api.background import build_dispatcher, connection_budget
    from engine.delivery import DispatcherConfig

    settings = common.settings()
    db = common.long_running(settings, "dispatch", connection_budget(settings, dispatcher=True))
    config = DispatcherConfig(
        concurrency=concurrency,
        batch_size=batch_size,
        lease_s=lease_seconds,
        max_attempts=max_attempts,
        backoff_base_s=backoff_seconds,
        rate_per_second=rate,
        rate_burst=burst,
        only_tenants=frozenset(UUID(t) for t in tenant) if tenant else None,
    )
    dispatcher = build_dispatcher(settings, db, config).start()

    def check() -> None:
        if not dispatcher.running:
            raise common.fail(f"dispatcher stopped: {dispatcher.error!r}")

    try:
        common.until_interrupted(check)
    finally:
        dispatcher.stop()
        dispatcher.app.close()


def worker(
    concurrency: Annotated[int, typer.Option(help="Step attempts in flight at once.")] = 8,
    lease_seconds: Annotated[float, typer.Option(help="Lease on claimed attempts.")] = 30.0,
    tenant_cap: Annotated[int, typer.Option(help="Leased attempts per tenant (all workers).")] = 64,
) -> None:
    """Run a step worker until stopped (SIGINT/SIGTERM)."""
    from api.background import connection_budget, start_worker
    from api.composition import Container
    from engine.runtime.worker import WorkerConfig

    settings = common.settings()
    parts = connection_budget(settings, read=True, worker=True)
    db = common.long_running(settings, "worker", parts)
    container = Container.build(settings, db, role=db.system)
    config = WorkerConfig(concurrency=concurrency, lease_s=lease_seconds, tenant_cap=tenant_cap)
    start_worker(container, config)
    try:
        common.until_interrupted()
    finally:
        container.close()
