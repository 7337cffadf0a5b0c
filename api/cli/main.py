"""The ``platinum`` command line (Typer): its commands and sub-commands, gathered."""

from __future__ import annotations

import logging

import typer

from api.cli import help as clean_help

clean_help.install()

from api.cli import audit, db, projections, serve, session  # noqa: E402 (after the help fix)
from api.cli.runs import runs_app  # noqa: E402
from api.cli.triggers import hooks_app, schedules_app  # noqa: E402
from api.cli.workflows import workflows_app  # noqa: E402

app = typer.Typer(
    help="Platinum: event-sourced, multi-tenant workflow engine.", no_args_is_help=True
)
app.command("serve")(serve.serve)
app.command("project")(serve.project)
app.command("worker")(serve.worker)
app.command("dispatch")(serve.dispatch)
app.command("schedule")(serve.schedule)
app.command("admin-token")(serve.admin_token)
app.command("login")(session.login)
app.command("logout")(session.logout)
app.command("whoami")(session.whoami)
app.add_typer(db.app, name="db")
app.add_typer(projections.app, name="projections")
app.add_typer(audit.app, name="audit")
app.add_typer(session.tenants_app, name="tenants")
app.add_typer(workflows_app, name="workflows")
app.add_typer(runs_app, name="runs")
app.add_typer(schedules_app, name="schedules")
app.add_typer(hooks_app, name="hooks")


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    app()


if __name__ == "__main__":
    main()
