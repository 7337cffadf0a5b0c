"""``platinum schedules ...`` and ``platinum hooks ...``: triggers, through the HTTP API."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from api.cli.common import fail
from api.cli.remote import Token, Url, connected, print_json

schedules_app = typer.Typer(help="Schedules (through the HTTP API).", no_args_is_help=True)
hooks_app = typer.Typer(help="Signed webhook endpoints (through the HTTP API).",
                        no_args_is_help=True)  # fmt: skip

Id = Annotated[str, typer.Argument(metavar="SCHEDULE_ID", help="The schedule's id.")]
WorkflowId = Annotated[str, typer.Argument(metavar="WORKFLOW_ID", help="The workflow.")]


def _json(text: str, option: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise fail(f"{option} is not JSON: {e}") from None


@schedules_app.command("create")
def schedules_create(
    workflow_id: WorkflowId,
    cron: Annotated[str, typer.Argument(metavar="CRON", help="5 fields, or 6 with seconds first.")],
    timezone: Annotated[str, typer.Option(metavar="ZONE", help="An IANA time zone.")] = "UTC",
    input_json: Annotated[
        str, typer.Option("--input", metavar="JSON", help="Each run's input.")
    ] = "{}",
    overlap: Annotated[str, typer.Option(help="skip, allow or cancel_previous.")] = "skip",
    catchup: Annotated[str, typer.Option(help="none, last or all.")] = "none",
    url: Url = None,
    token: Token = None,
) -> None:
    """Create a schedule; prints it with its next fire times."""
    with connected(url, token) as client:
        print_json(client.schedules.create(
            workflow_id, cron, timezone=timezone, input=_json(input_json, "--input"),
            overlap=overlap, catchup=catchup))  # fmt: skip


@schedules_app.command("list")
def schedules_list(workflow_id: WorkflowId, url: Url = None, token: Token = None) -> None:
    """The workflow's schedules, oldest first."""
    with connected(url, token) as client:
        print_json(list(client.schedules.list(workflow_id)))


@schedules_app.command("show")
def schedules_show(schedule_id: Id, url: Url = None, token: Token = None) -> None:
    """One schedule with its next fire times."""
    with connected(url, token) as client:
        print_json(client.schedules.get(schedule_id))


@schedules_app.command("pause")
def schedules_pause(schedule_id: Id, url: Url = None, token: Token = None) -> None:
    """Pause a schedule: no tick fires until it is resumed."""
    with connected(url, token) as client:
        print_json(client.schedules.pause(schedule_id))


@schedules_app.command("resume")
def schedules_resume(schedule_id: Id, url: Url = None, token: Token = None) -> None:
    """Resume a paused schedule."""
    with connected(url, token) as client:
        print_json(client.schedules.resume(schedule_id))


@schedules_app.command("delete")
def schedules_delete(schedule_id: Id, url: Url = None, token: Token = None) -> None:
    """Delete a schedule (the runs it started go on)."""
    with connected(url, token) as client:
        client.schedules.delete(schedule_id)
    typer.echo(f"deleted {schedule_id}")


@hooks_app.command("create")
def hooks_create(
    workflow_id: WorkflowId,
    mapping: Annotated[
        str | None, typer.Option(metavar="EXPR", help="CEL over `input` (the payload).")
    ] = None,
    url: Url = None,
    token: Token = None,
) -> None:
    """Create a hook; prints it WITH its secret, shown this once."""
    with connected(url, token) as client:
        print_json(client.hooks.create(workflow_id, mapping))


@hooks_app.command("list")
def hooks_list(workflow_id: WorkflowId, url: Url = None, token: Token = None) -> None:
    """The workflow's hooks (never their secrets)."""
    with connected(url, token) as client:
        print_json(list(client.hooks.list(workflow_id)))


@hooks_app.command("delete")
def hooks_delete(
    hook_id: Annotated[str, typer.Argument(metavar="HOOK_ID", help="The hook's id.")],
    url: Url = None,
    token: Token = None,
) -> None:
    """Delete a hook: its deliveries are refused from now on."""
    with connected(url, token) as client:
        client.hooks.delete(hook_id)
    typer.echo(f"deleted {hook_id}")


