"""The ``platinum`` command line (Typer): its commands and sub-commands, gathered."""

from __future__ import annotations

import logging

import typer

from api.cli import audit, db, projections, serve
from api.cli.triggers import hooks_app, schedules_app
from api.cli.workflows import runs_app, workflows_app

app = typer.Typer(
    help="Platinum: event-sourced, multi-tenant workflow engine.", no_args_is_help=True
)
app.command("serve")(serve.serve)
app.command("project")(serve.project)
app.command("worker")(serve.worker)
app.command("dispatch")(serve.dispatch)
app.command("schedule")(serve.schedule)
app.command("admin-token")(serve.admin_token)
app.add_typer(db.app, name="db")
app.add_typer(projections.app, name="projections")
app.add_typer(audit.app, name="audit")
app.add_typer(workflows_app, name="workflows")
app.add_typer(runs_app, name="runs")
app.add_typer(schedules_app, name="schedules")
app.add_typer(hooks_app, name="hooks")


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    app()


if __name__ == "__main__":
    main()
