"""The ``platinum`` command line (Typer)."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from api.settings import Settings

app = typer.Typer(
    help="Platinum: event-sourced, multi-tenant workflow engine.", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema and roles.", no_args_is_help=True)
projections_app = typer.Typer(help="Read-model projections.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(projections_app, name="projections")


def _settings() -> Settings:
    return Settings()


def fail(message: str, code: int = 1) -> typer.Exit:
    """One line on stderr, non-zero exit."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _logging(level: str) -> None:
    from api.logs import configure_logging

    configure_logging(level)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or upgrade the event store, read model and roles (idempotent)."""
    from api.bootstrap import upgrade
    from api.container import application_classes

    settings = _settings()
    _logging(settings.log_level)
    db = upgrade(settings, application_classes())
    typer.echo(f"database upgraded: {db.owner.dbname} on {db.owner.host}:{db.owner.port}")


@app.command("admin-token")
def admin_token() -> None:
    """Print the platform admin token, alone, on the last line of stdout."""
    typer.echo(_settings().resolved_admin_token())


@app.command("serve")
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
    from api.bootstrap import upgrade
    from api.container import Container, application_classes
    from api.database import install_sigterm_exit
    from api.services import start_background

    settings = _settings()
    _logging(settings.log_level)
    # uvicorn re-raises the signal it caught after a graceful shutdown; with Python's default
    # SIGTERM action that would skip atexit, and with it the embedded server's stop.
    install_sigterm_exit()
    db = upgrade(settings, application_classes())
    container = Container.build(settings, db)
    start_background(
        container, projector=not no_projector, worker=not no_worker, worker_concurrency=workers
    )
    web = create_app(container, own_container=True)
    where = f"embedded PostgreSQL in {settings.data_dir}" if settings.embedded else "DATABASE_URL"
    typer.echo(f"Platinum on http://{host}:{port}  (database: {where})")
    typer.echo(f"platform admin token: {settings.resolved_admin_token()}")
    sys.stdout.flush()
    uvicorn.run(web, host=host, port=port, log_level=settings.log_level.lower(), access_log=False)


@app.command("project")
def project() -> None:
    """Run the projection runners until stopped."""
    import signal
    import threading

    from api.bootstrap import upgrade
    from api.container import Container, application_classes
    from api.database import install_sigterm_exit
    from api.services import start_background

    settings = _settings()
    _logging(settings.log_level)
    install_sigterm_exit()
    db = upgrade(settings, application_classes()) if settings.embedded else _db(settings)
    container = Container.build(settings, db, role=db.system)
    start_background(container, projector=True, worker=False)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        while not stop.wait(1.0):
            pass
    finally:
        container.close()


@app.command("dispatch")
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
    import signal
    import threading
    from uuid import UUID

    from api.bootstrap import upgrade
    from api.container import application_classes
    from api.database import install_sigterm_exit
    from api.services import build_dispatcher
    from engine.delivery import DispatcherConfig

    settings = _settings()
    _logging(settings.log_level)
    install_sigterm_exit()
    db = upgrade(settings, application_classes()) if settings.embedded else _db(settings)
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
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        while not stop.wait(1.0):
            if not dispatcher.running:
                raise fail(f"dispatcher stopped: {dispatcher.error!r}")
    finally:
        dispatcher.stop()
        dispatcher.app.close()


@projections_app.command("rebuild")
def projections_rebuild(
    name: Annotated[str | None, typer.Argument(help="Projection name; all when omitted.")] = None,
) -> None:
    """Rebuild read-model projections from zero, with progress."""
    from rich.progress import Progress

    from api.services import build_projection_runners

    settings = _settings()
    _logging("WARNING")
    db = _db(settings)
    runners = build_projection_runners(settings, db)
    selected = [r for r in runners if name is None or r.projection.name == name]
    if not selected:
        known = ", ".join(sorted({r.projection.name for r in runners}))
        raise fail(f"no projection named {name!r} (known: {known})")
    with Progress() as progress:
        for runner in selected:
            total = runner.head()
            task = progress.add_task(f"{runner.projection.name} ← {runner.app.name}", total=total)
            runner.on_batch = lambda n, t=task: progress.advance(t, n)
            runner.rebuild()
            progress.update(task, completed=total)
    for runner in selected:
        runner.app.close()


def _db(settings: Settings):  # type: ignore[no-untyped-def]
    from api.database import admin_conninfo, database_for

    return database_for(settings, admin_conninfo(settings))


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    app()


if __name__ == "__main__":
    main()
