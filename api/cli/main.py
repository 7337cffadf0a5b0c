"""The ``platinum`` command line (Typer)."""

from __future__ import annotations

import logging
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from api.settings import Settings

if TYPE_CHECKING:
    from projections.runner import ProjectionRunner

app = typer.Typer(
    help="Platinum: event-sourced, multi-tenant workflow engine.", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema and roles.", no_args_is_help=True)
projections_app = typer.Typer(help="Read-model projections.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(projections_app, name="projections")
audit_app = typer.Typer(help="Audit log: verify hash chains, export events.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
from api.cli.workflows import runs_app, workflows_app  # noqa: E402 - sub-apps of this CLI

app.add_typer(workflows_app, name="workflows")
app.add_typer(runs_app, name="runs")


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

    settings = _settings()
    _logging(settings.log_level)
    db = _upgrade(settings)
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
    from api.background import connection_budget, start_background
    from api.composition import Container
    from api.database import install_sigterm_exit

    settings = _settings()
    _logging(settings.log_level)
    # the port first: a busy one fails at once, before any database work or thread
    sock = _bind(host, port)
    parts = connection_budget(settings, api=True, read=True, projector=not no_projector,
                              worker=not no_worker, dispatcher=True)  # fmt: skip
    _budget(settings, "serve", parts)
    # uvicorn re-raises the signal it caught after a graceful shutdown; with Python's default
    # SIGTERM action that would skip atexit, and with it the embedded server's stop.
    install_sigterm_exit()
    db = _upgrade(settings)
    container = Container.build(settings, db)
    start_background(
        container, projector=not no_projector, worker=not no_worker, worker_concurrency=workers
    )
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
        raise fail(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    return sock


def _budget(settings: Settings, kind: str, parts: dict[str, int]) -> None:
    """Log (and print) this process's connection budget; over the bound: a one-line error."""
    from api.background import check_budget

    try:
        check_budget(settings, kind, parts)
    except ValueError as e:
        raise fail(str(e)) from None


@app.command("project")
def project() -> None:
    """Run the projection runners until stopped."""
    import signal
    import threading

    from api.background import connection_budget, start_background
    from api.composition import Container
    from api.database import install_sigterm_exit

    settings = _settings()
    _logging(settings.log_level)
    _budget(settings, "project", connection_budget(settings, read=True, projector=True))
    install_sigterm_exit()
    db = _upgrade(settings) if settings.embedded else _db(settings)
    container = Container.build(settings, db, role=db.system)
    start_background(container, projector=True, worker=False, dispatcher=False)
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

    from api.background import build_dispatcher, connection_budget
    from api.database import install_sigterm_exit
    from engine.delivery import DispatcherConfig

    settings = _settings()
    _logging(settings.log_level)
    _budget(settings, "dispatch", connection_budget(settings, dispatcher=True))
    install_sigterm_exit()
    db = _upgrade(settings) if settings.embedded else _db(settings)
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


@app.command("worker")
def worker(
    concurrency: Annotated[int, typer.Option(help="Step attempts in flight at once.")] = 8,
    lease_seconds: Annotated[float, typer.Option(help="Lease on claimed attempts.")] = 30.0,
    tenant_cap: Annotated[int, typer.Option(help="Leased attempts per tenant (all workers).")] = 64,
) -> None:
    """Run a step worker until stopped (SIGINT/SIGTERM)."""
    import signal
    import threading

    from api.background import connection_budget, start_worker
    from api.composition import Container
    from api.database import install_sigterm_exit
    from engine.runtime.worker import WorkerConfig

    settings = _settings()
    _logging(settings.log_level)
    _budget(settings, "worker", connection_budget(settings, read=True, worker=True))
    install_sigterm_exit()
    db = _upgrade(settings) if settings.embedded else _db(settings)
    container = Container.build(settings, db, role=db.system)
    config = WorkerConfig(concurrency=concurrency, lease_s=lease_seconds, tenant_cap=tenant_cap)
    start_worker(container, config)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        while not stop.wait(1.0):
            pass
    finally:
        container.close()


def _selected_runners(name: str | None) -> list[ProjectionRunner]:
    """The projection runners named ``name`` (all when None); an unknown name is a one-line
    error listing the known ones."""
    from api.background import build_projection_runners

    settings = _settings()
    _logging("WARNING")
    runners = build_projection_runners(settings, _db(settings))
    selected = [r for r in runners if name is None or r.projection.name == name]
    if not selected:
        known = ", ".join(sorted({r.projection.name for r in runners}))
        raise fail(f"no projection named {name!r} (known: {known})")
    return selected


@projections_app.command("rebuild")
def projections_rebuild(
    name: Annotated[str | None, typer.Argument(help="Projection name; all when omitted.")] = None,
) -> None:
    """Rebuild read-model projections from zero, with progress."""
    from rich.progress import Progress

    selected = _selected_runners(name)
    with Progress() as progress:
        for runner in selected:
            total = runner.head()
            task = progress.add_task(f"{runner.projection.name} ← {runner.app.name}", total=total)
            runner.on_batch = lambda n, t=task: progress.advance(t, n)
            runner.rebuild()
            progress.update(task, completed=total)
    for runner in selected:
        runner.app.close()


@projections_app.command("retry")
def projections_retry(
    name: Annotated[str | None, typer.Argument(help="Projection name; all when omitted.")] = None,
) -> None:
    """Apply parked events again (after the fix that lets them apply), aggregate by aggregate,
    in order. Exits 1 while some stay parked."""
    selected = _selected_runners(name)
    still = 0
    try:
        for runner in selected:
            outcome = runner.retry_parked()
            still += outcome["still_parked"]
            applied, parked = outcome["applied"], outcome["still_parked"]
            typer.echo(f"{runner.projection.name} ← {runner.app.name}: applied {applied},"
                       f" still parked {parked}")  # fmt: skip
    finally:
        for runner in selected:
            runner.app.close()
    if still:
        raise typer.Exit(1)


def _tenant_by_slug(conninfo: str, slug: str) -> str:
    import psycopg

    with psycopg.connect(conninfo) as conn:
        row = conn.execute("SELECT id FROM tenants WHERE slug = %s", (slug,)).fetchone()
    if row is None:
        raise fail(f"no tenant with slug {slug!r}")
    return str(row[0])


@audit_app.command("verify")
def audit_verify(
    tenant: Annotated[
        str | None, typer.Option(help="Tenant slug; every chain when omitted.")
    ] = None,
) -> None:
    """Recompute the audit hash chains; exit 1 naming the first broken link."""
    import json

    import psycopg

    from api.composition import application_classes
    from projections.audit.chain import StoredEvents, verify_chain

    settings = _settings()
    _logging("WARNING")
    db = _db(settings)
    tenant_id = _tenant_by_slug(db.system.conninfo, tenant) if tenant else None
    # every row is checked against the stored (decrypted) event it claims to come from
    small = settings.model_copy(update={"pool_size": 1, "pool_max_overflow": 1})
    env = db.system.eventsourcing_env(small)
    apps = {c.name.lower(): c(env=env) for c in application_classes()}  # type: ignore[attr-defined]
    try:
        with psycopg.connect(db.system.conninfo) as conn:
            result = verify_chain(conn, tenant_id, events=StoredEvents(apps))
    finally:
        for a in apps.values():
            a.close()
    typer.echo(json.dumps(result.as_dict(), indent=2))
    if result.broken is not None:
        b = result.broken
        raise fail(f"audit chain broken at row {b.id} (seq {b.seq}, {b.source}): {b.reason}")


@audit_app.command("export")
def audit_export(
    tenant: Annotated[str, typer.Option(help="Tenant slug.")],
    out: Annotated[
        Path | None, typer.Option(help="Write NDJSON here instead of stdout.")
    ] = None,
) -> None:
    """Export a tenant's audit events as NDJSON CloudEvents (streamed)."""
    import psycopg

    from projections.audit.export import export_events

    settings = _settings()
    _logging("WARNING")
    db = _db(settings)
    tenant_id = _tenant_by_slug(db.system.conninfo, tenant)
    with psycopg.connect(db.system.conninfo) as conn:
        if out is None:
            n = export_events(conn, tenant_id, sys.stdout)
        else:
            with out.open("w", encoding="utf-8") as f:
                n = export_events(conn, tenant_id, f)
    typer.echo(f"exported {n} events", err=True)


@audit_app.command("rebuild")
def audit_rebuild() -> None:
    """Recompute the audit log from the events (owner only: empties the append-only log)."""
    from api.background import build_projection_runners
    from projections.audit.projection import reset_audit_log

    settings = _settings()
    _logging("WARNING")
    db = _db(settings)
    reset_audit_log(db.owner.conninfo)
    runners = build_projection_runners(settings, db, names=["audit"])
    total = 0
    for runner in runners:
        total += runner.catch_up()
        runner.app.close()
    typer.echo(f"audit log rebuilt from {total} events", err=True)


def _db(settings: Settings):  # type: ignore[no-untyped-def]
    """The database's credentials, once this process is known to hold the deployment's key."""
    from api.database import admin_conninfo, database_for
    from api.database_setup import CipherKeyError, check_same_cipher_key

    db = database_for(settings, admin_conninfo(settings))
    try:
        check_same_cipher_key(db.system.conninfo, settings)
    except CipherKeyError as e:
        raise fail(str(e)) from None
    return db


def _upgrade(settings: Settings):  # type: ignore[no-untyped-def]
    """``upgrade`` for a command: a key that does not fit the events is one line, exit 1."""
    from api.composition import application_classes
    from api.database_setup import CipherKeyError, upgrade

    try:
        return upgrade(settings, application_classes())
    except CipherKeyError as e:
        raise fail(str(e)) from None


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    app()


if __name__ == "__main__":
    main()
