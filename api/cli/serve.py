"""``platinum serve|project|worker|dispatch|admin-token``: the long-running processes."""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import Annotated

import typer

from api.cli import common
from api.settings import AUDIT_KEY_FILE, CIPHER_KEY_FILE, Settings


def admin_token() -> None:
    """Print the platform admin token, alone, on the last line of stdout."""
    typer.echo(common.settings().resolved_admin_token())


VERBOSE_HELP = (
    "Log the start (embedded server, migrations) on stderr, not in the data dir's logs/serve.log."
)


def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(help="In-process step-worker concurrency.")] = 8,
    no_worker: Annotated[bool, typer.Option("--no-worker", help="Run no step worker.")] = False,
    no_projector: Annotated[
        bool, typer.Option("--no-projector", help="Run no projector.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help=VERBOSE_HELP)] = False,
) -> None:
    """API + (by default) in-process worker, projector and dispatcher."""
    import uvicorn

    from api import logs
    from api.app import create_app
    from api.background import connection_budget, start_background
    from api.composition import Container
    from api.database import install_sigterm_exit

    settings = common.settings()
    log_path = settings.data_dir / "logs" / "serve.log"
    if verbose:
        logs.configure_logging(settings.log_level)
    else:
        logs.start_quietly(settings.log_level, log_path)
    # the port first: a busy one fails at once, before any database work or thread
    sock = _bind(host, port)
    parts = connection_budget(settings, api=True, read=True, projector=not no_projector,
                              worker=not no_worker, dispatcher=True, ticker=True)  # fmt: skip
    common.budget(settings, "serve", parts)
    where = f"embedded PostgreSQL in {_shown(settings.data_dir)}" if settings.embedded else (
        "DATABASE_URL")  # fmt: skip
    if not verbose:
        typer.echo(f"Starting Platinum on {where} (log: {_shown(log_path)}) ...")
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
    if not verbose:
        logs.started()
    sock.listen(2048)  # a request sent once the box shows waits in the backlog, never refused
    scheme = "https" if settings.tls else "http"
    rows = [
        ("API", f"{scheme}://{host}:{port}"),
        ("console", f"{scheme}://{host}:{port}/ui/"),
        ("API docs", f"{scheme}://{host}:{port}/docs"),
        ("admin token", _token_row(settings)),
        ("database", where),
        *_notes(settings),
        ("connections", f"{sum(parts.values())} (at most {settings.max_connections}:"
                        " PLATINUM_MAX_CONNECTIONS)"),
        ("log", "JSON on stderr" + ("" if verbose else f"; the start's in {_shown(log_path)}")),
    ]
    _box(rows)
    config = uvicorn.Config(
        web, host=host, port=port, access_log=False,
        # uvicorn's own start lines add nothing to the box; its warnings and errors still show
        log_level=settings.log_level.lower() if verbose else "warning",
        **settings.uvicorn_tls(),  # type: ignore[arg-type]
    )  # fmt: skip
    uvicorn.Server(config).run(sockets=[sock])


def _box(rows: list[tuple[str, str]]) -> None:
    """What a person starting the service needs, in one box on stdout."""
    from rich.console import Console
    from rich.panel import Panel
    from rich.table import Table

    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for name, value in rows:
        table.add_row(name, value)
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 100)
    console.print(Panel(table, title="Platinum is running", subtitle="Ctrl+C stops it",
                        expand=False))  # fmt: skip
    sys.stdout.flush()


def _token_row(settings: Settings) -> str:
    """The platform admin token on a terminal (a person reads it there); written to a pipe or a
    file it would stay in the service's log for good: there, the command that shows it."""
    token = settings.resolved_admin_token()  # made now on the first start
    if sys.stdout.isatty():
        return token
    return f"run `{_command()} admin-token` to show it"


def _notes(settings: Settings) -> list[tuple[str, str]]:
    """What the start logged as warnings, said once in the box: the keys generated into the data
    dir (losing the cipher key loses every event) and the embedded mode's loopback egress."""
    files = []
    if not settings.cipher_key:
        files.append(_shown(settings.data_dir / CIPHER_KEY_FILE))
    if not (settings.audit_signing_key or settings.audit_signing_key_file):
        files.append(_shown(settings.data_dir / AUDIT_KEY_FILE))
    rows = []
    if files:
        rows.append(("keys", f"{', '.join(files)}: back them up apart from the database"
                             " (docs/backup.md)"))  # fmt: skip
    if settings.embedded:
        rows.append(("egress", "http steps and webhooks may reach loopback too (embedded mode)"))
    return rows


def _shown(path: Path) -> str:
    """A path as short as it can be said: relative to the working directory when inside it."""
    path = path.resolve()
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _command() -> str:
    """How this ``platinum`` was called (``.venv/bin/platinum`` under ``make run``)."""
    argv0 = Path(sys.argv[0])
    return _shown(argv0) if argv0.name == "platinum" and argv0.parent != Path() else "platinum"


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
