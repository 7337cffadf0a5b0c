"""``platinum schedules ...`` and ``platinum hooks ...``: triggers, through the HTTP API."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from api.cli.common import fail
from api.cli.workflows import DEFAULT_URL, Token, Url
from api.cli.workflows import _call as call
from api.cli.workflows import _print as show

schedules_app = typer.Typer(help="Schedules (through the HTTP API).", no_args_is_help=True)
hooks_app = typer.Typer(help="Signed webhook endpoints (through the HTTP API).",
                        no_args_is_help=True)  # fmt: skip

Id = Annotated[str, typer.Argument(help="The schedule's id.")]


def _json(text: str, option: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise fail(f"{option} is not JSON: {e}") from None


@schedules_app.command("create")
def schedules_create(
    workflow_id: Annotated[str, typer.Argument(help="The workflow to start.")],
    cron: Annotated[str, typer.Argument(help="5 fields, or 6 with seconds first.")],
    token: Token,
    timezone: Annotated[str, typer.Option(help="An IANA time zone.")] = "UTC",
    input_json: Annotated[str, typer.Option("--input", help="Each run's input (JSON).")] = "{}",
    overlap: Annotated[str, typer.Option(help="skip, allow or cancel_previous.")] = "skip",
    catchup: Annotated[str, typer.Option(help="none, last or all.")] = "none",
    url: Url = DEFAULT_URL,
) -> None:
    """Create a schedule; prints it with its next fire times."""
    body = {"cron": cron, "timezone": timezone, "input": _json(input_json, "--input"),
            "overlap": overlap, "catchup": catchup}  # fmt: skip
    show(call("POST", url, token, f"/v1/workflows/{workflow_id}/schedules", json=body))


@schedules_app.command("list")
def schedules_list(
    workflow_id: Annotated[str, typer.Argument(help="The workflow.")],
    token: Token,
    url: Url = DEFAULT_URL,
) -> None:
    """The workflow's schedules (first page)."""
    show(call("GET", url, token, f"/v1/workflows/{workflow_id}/schedules")["items"])


@schedules_app.command("show")
def schedules_show(schedule_id: Id, token: Token, url: Url = DEFAULT_URL) -> None:
    show(call("GET", url, token, f"/v1/schedules/{schedule_id}"))


@schedules_app.command("pause")
def schedules_pause(schedule_id: Id, token: Token, url: Url = DEFAULT_URL) -> None:
    show(call("PATCH", url, token, f"/v1/schedules/{schedule_id}", json={"status": "paused"}))


@schedules_app.command("resume")
def schedules_resume(schedule_id: Id, token: Token, url: Url = DEFAULT_URL) -> None:
    show(call("PATCH", url, token, f"/v1/schedules/{schedule_id}", json={"status": "active"}))


@schedules_app.command("delete")
def schedules_delete(schedule_id: Id, token: Token, url: Url = DEFAULT_URL) -> None:
    call("DELETE", url, token, f"/v1/schedules/{schedule_id}")
    typer.echo(f"deleted {schedule_id}")


@hooks_app.command("create")
def hooks_create(
    workflow_id: Annotated[str, typer.Argument(help="The workflow to start.")],
    token: Token,
    mapping: Annotated[str | None, typer.Option(help="CEL over `input` (the payload).")] = None,
    url: Url = DEFAULT_URL,
) -> None:
    """Create a hook; prints it WITH its secret, shown this once."""
    body = {} if mapping is None else {"mapping": mapping}
    show(call("POST", url, token, f"/v1/workflows/{workflow_id}/hooks", json=body))


@hooks_app.command("list")
def hooks_list(
    workflow_id: Annotated[str, typer.Argument(help="The workflow.")],
    token: Token,
    url: Url = DEFAULT_URL,
) -> None:
    show(call("GET", url, token, f"/v1/workflows/{workflow_id}/hooks")["items"])


@hooks_app.command("delete")
def hooks_delete(
    hook_id: Annotated[str, typer.Argument(help="The hook's id.")],
    token: Token,
    url: Url = DEFAULT_URL,
) -> None:
    call("DELETE", url, token, f"/v1/hooks/{hook_id}")
    typer.echo(f"deleted {hook_id}")
