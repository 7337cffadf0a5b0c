"""``platinum db upgrade``: create or upgrade the event store, read model and roles."""

from __future__ import annotations

import typer

from api.cli.common import configure_logging, settings, upgraded

app = typer.Typer(help="Database schema and roles.", no_args_is_help=True)


@app.command("upgrade")
def db_upgrade() -> None:
    """Create or upgrade the event store, read model and roles (idempotent)."""
    current = settings()
    configure_logging(current.log_level)
    db = upgraded(current)
    typer.echo(f"database upgraded: {db.owner.dbname} on {db.owner.host}:{db.owner.port}")
