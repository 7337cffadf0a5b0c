"""``platinum workflows ...``: validate a definition offline; submit, list, show, change
status and list versions through the HTTP API (the API is where credentials, permissions and
tenant fencing live, so the CLI behaves exactly as any other client)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import fail, printable
from api.cli.remote import AsJson, Token, Url, connected, print_json, table

workflows_app = typer.Typer(help="Workflow definitions.", no_args_is_help=True)

WorkflowId = Annotated[str, typer.Argument(metavar="WORKFLOW_ID", help="The workflow's id.")]
IfMatch = Annotated[
    int | None,
    typer.Option("--if-match", metavar="VERSION",
                 help="Refuse (412) unless the workflow is still at this version."),
]  # fmt: skip
DefinitionFile = Annotated[
    Path, typer.Argument(metavar="FILE", help="A definition file, YAML or JSON ('-': stdin).")
]


def _read(file: Path) -> str:
    try:
        return sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise fail(f"cannot read {file}: {e}") from None


@workflows_app.command("validate")
def validate(file: DefinitionFile) -> None:
    """Validate a definition offline: every problem with its JSON Pointer; exit 1 if invalid."""
    from engine.definition.dsl import load_definition_text
    from engine.definition.validation import validate_definition

    text = _read(file)
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


@workflows_app.command("submit")
def submit(
    file: DefinitionFile,
    name: Annotated[
        str | None, typer.Option(help="The workflow's name (default: the definition's).")
    ] = None,
    activate: Annotated[bool, typer.Option("--activate", help="Activate it at once.")] = False,
    url: Url = None,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """Submit a definition file as a new workflow (a draft, definition version 1)."""
    with connected(url, token) as client:
        wf = client.workflows.submit(_read(file), name)
        if activate:
            wf = client.workflows.activate(wf.id)
    if as_json:
        print_json(wf)
    else:
        typer.echo(f"workflow {printable(wf.name)} ({wf.status}, "
                   f"version {wf.definition_version}): {wf.id}")  # fmt: skip


@workflows_app.command("list")
def list_workflows(
    status: Annotated[
        str | None, typer.Option(help="Only these: draft, active, paused or archived.")
    ] = None,
    url: Url = None,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """The tenant's workflows, oldest first (every page)."""
    with connected(url, token) as client:
        found = list(client.workflows.list(status=status, limit=500))
    if as_json:
        print_json(found)
        return
    rows = [w.model_dump(mode="json") | {"version": w.definition_version} for w in found]
    table(rows, ["id", "name", "status", "version", "updated_at"])


@workflows_app.command("show")
def show(workflow_id: WorkflowId, url: Url = None, token: Token = None,
         as_json: AsJson = False) -> None:  # fmt: skip
    """One workflow with its current definition (as YAML)."""
    import yaml

    with connected(url, token) as client:
        wf = client.workflows.get(workflow_id)
    if as_json:
        print_json(wf)
        return
    typer.echo(f"{printable(wf.name)}  {wf.id}\nstatus {wf.status}, definition version "
               f"{wf.definition_version}, resource version {wf.version}\n")  # fmt: skip
    typer.echo(yaml.safe_dump(wf.definition, sort_keys=False, allow_unicode=True), nl=False)


def _transition(action: str) -> None:
    def command(workflow_id: WorkflowId, if_match: IfMatch = None, url: Url = None,
                token: Token = None, as_json: AsJson = False) -> None:  # fmt: skip
        with connected(url, token) as client:
            wf = getattr(client.workflows, action)(workflow_id, if_match)
        if as_json:
            print_json(wf)
        else:
            typer.echo(f"workflow {printable(wf.name)} ({wf.id}): {wf.status}")

    command.__doc__ = {
        "activate": "Activate a workflow: only active workflows start runs.",
        "pause": "Pause a workflow: it starts no run until activated again.",
        "archive": "Archive a workflow for good (its runs stay readable).",
    }[action]
    workflows_app.command(action)(command)


for _action in ("activate", "pause", "archive"):
    _transition(_action)


@workflows_app.command("versions")
def versions(workflow_id: WorkflowId, url: Url = None, token: Token = None,
             as_json: AsJson = False) -> None:  # fmt: skip
    """Every definition version of a workflow."""
    with connected(url, token) as client:
        found = client.workflows.versions(workflow_id)
    if as_json:
        print_json(found)
        return
    rows = [v.model_dump(mode="json") | {"steps": len(v.definition.get("steps", []))}
            for v in found]  # fmt: skip
    table(rows, ["definition_version", "created_at", "created_by", "steps"])
