"""``platinum workflows validate`` (offline) and ``platinum runs ...`` (through the HTTP API).

Run commands talk to a running service (``--url``, default ``http://127.0.0.1:8000``) with a
bearer token (``--token`` or ``PLATINUM_TOKEN``): the API is where credentials, permissions and
tenant fencing live, so the CLI gets exactly the behaviour of any other client.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from api.cli.common import fail

workflows_app = typer.Typer(help="Workflow definitions.", no_args_is_help=True)
runs_app = typer.Typer(help="Workflow runs (through the HTTP API).", no_args_is_help=True)

Url = Annotated[
    str, typer.Option("--url", envvar="PLATINUM_URL", help="Base URL of the Platinum API.")
]
Token = Annotated[
    str,
    typer.Option("--token", envvar="PLATINUM_TOKEN", help="Bearer token (session or API key)."),
]
DEFAULT_URL = "http://127.0.0.1:8000"


@workflows_app.command("validate")
def validate(
    file: Annotated[Path, typer.Argument(help="A definition file, JSON or YAML ('-': stdin).")],
) -> None:
    """Validate a definition offline; every problem with its JSON Pointer; exit 1 if invalid."""
    import sys

    from engine.definition.dsl import load_definition_text
    from engine.definition.validation import validate_definition

    try:
        text = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise fail(f"cannot read {file}: {e}") from None
    try:
        definition = load_definition_text(text)
    except ValueError as e:
        raise fail(f"{file}: {e}") from None
    problems = validate_definition(definition)
    if not problems:
        typer.echo(f"{file}: valid")
        return
    for problem in problems:
        typer.echo(f"{problem.pointer or '/'}: {problem.message}")
    raise fail(f"{file} is not a valid workflow definition ({len(problems)} problems)")


def _call(method: str, url: str, token: str, path: str, **kwargs: Any) -> Any:
    import httpx

    try:
        r = httpx.request(
            method,
            url.rstrip("/") + path,
            headers={"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})},
            timeout=30.0,
            **kwargs,
        )
    except httpx.HTTPError as e:
        raise fail(f"{url}: {e}") from None
    if r.status_code >= 400:
        try:
            problem = r.json()
            detail = problem.get("detail") or problem.get("title")
            listed = problem.get("errors") or []
            errors = "; ".join(f"{e['pointer']}: {e['message']}" for e in listed)
        except (ValueError, AttributeError, KeyError, TypeError):
            detail, errors = r.text.strip(), ""
        raise fail(f"HTTP {r.status_code}: {detail}{' (' + errors + ')' if errors else ''}")
    return r.json() if r.content else None


def _print(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


@runs_app.command("start")
def runs_start(
    workflow_id: Annotated[str, typer.Argument(help="The workflow to run (must be active).")],
    token: Token,
    input_json: Annotated[
        str, typer.Option("--input", help="The run input as JSON.")
    ] = "{}",
    idempotency_key: Annotated[
        str | None, typer.Option("--idempotency-key", help="Same key and input: same run.")
    ] = None,
    url: Url = DEFAULT_URL,
) -> None:
    """Start a run; prints ``{id, status, workflow_version}``."""
    try:
        data = json.loads(input_json)
    except json.JSONDecodeError as e:
        raise fail(f"--input is not JSON: {e}") from None
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    path = f"/v1/workflows/{workflow_id}/runs"
    _print(_call("POST", url, token, path, json={"input": data}, headers=headers))


@runs_app.command("show")
def runs_show(
    run_id: Annotated[str, typer.Argument(help="The run's id.")],
    token: Token,
    url: Url = DEFAULT_URL,
) -> None:
    """Show a run with every step's status, attempts, output and error."""
    _print(_call("GET", url, token, f"/v1/runs/{run_id}"))


@runs_app.command("events")
def runs_events(
    run_id: Annotated[str, typer.Argument(help="The run's id.")],
    token: Token,
    url: Url = DEFAULT_URL,
) -> None:
    """Print the run's events in order, one JSON object per line."""
    for event in _call("GET", url, token, f"/v1/runs/{run_id}/events")["items"]:
        typer.echo(json.dumps(event, ensure_ascii=False))
