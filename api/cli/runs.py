"""``platinum runs ...``: start, list, show, watch, answer approvals, cancel, rerun, signal and
draw a run's tree, through the HTTP API with the Python client (``api.client``)."""

from __future__ import annotations

import itertools
import json
from contextlib import nullcontext
from typing import TYPE_CHECKING, Annotated, Any

import typer

from api.cli.common import fail
from api.cli.remote import AsJson, Token, Url, cell, connected, plain, print_json, table

if TYPE_CHECKING:
    from rich.console import RenderableType

    from api.client import Client
    from api.schemas.runs import RunPublic

runs_app = typer.Typer(help="Workflow runs (through the HTTP API).", no_args_is_help=True)

RunId = Annotated[str, typer.Argument(metavar="RUN_ID", help="The run's id.")]
StepId = Annotated[str, typer.Argument(metavar="STEP_ID", help="The approval step's id.")]
IfMatch = Annotated[
    int | None,
    typer.Option("--if-match", metavar="VERSION",
                 help="Refuse (412) unless the run is still at this version."),
]  # fmt: skip
ENDED_EXIT = {"succeeded": 0, "failed": 1, "cancelled": 3}
"""``runs watch``'s exit code by the run's outcome."""
STYLE = {"succeeded": "green", "failed": "red", "cancelled": "yellow", "running": "cyan",
         "waiting": "magenta", "skipped": "dim", "pending": "dim"}  # fmt: skip


def _json_option(text: str | None, option: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise fail(f"{option} is not JSON: {e}") from None


@runs_app.command("start")
def start(
    workflow_id: Annotated[
        str, typer.Argument(metavar="WORKFLOW_ID", help="The workflow to run (it must be active).")
    ],
    input_json: Annotated[
        str, typer.Option("--input", metavar="JSON", help="The run's input.")
    ] = "{}",
    idempotency_key: Annotated[
        str | None,
        typer.Option(metavar="KEY", help="The same key and input give the same run (24 h); "
                     "default: a fresh key, so retries never start a second run."),
    ] = None,
    url: Url = None,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """Start a run; prints its id (with --json: id, status, workflow_version)."""
    data = _json_option(input_json, "--input")
    with connected(url, token) as client:
        run = client.runs.start(workflow_id, data, idempotency_key)
    if as_json:
        print_json(run)
    else:
        typer.echo(f"run {run.id} {run.status}")


@runs_app.command("list")
def list_runs(
    workflow: Annotated[
        str | None, typer.Option(metavar="WORKFLOW_ID", help="Only this workflow's runs.")
    ] = None,
    status: Annotated[str | None, typer.Option(help="Only runs in this status.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many (newest first).")] = 50,
    url: Url = None,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """The tenant's runs, newest first."""
    with connected(url, token) as client:
        pager = client.runs.list(workflow_id=workflow, status=status, limit=min(limit, 500))
        found = list(itertools.islice(pager, limit))
    if as_json:
        print_json(found)
        return
    table([r.model_dump(mode="json") for r in found],
          ["id", "workflow_id", "status", "started_by", "created_at"])  # fmt: skip


def _detail(step: Any) -> str:
    if step.waiting:
        w = step.waiting
        return f"waits for {w.get('kind')}" + (f" ({w['role']})" if w.get("role") else "")
    if step.error:
        return f"{step.error.get('kind')}: {step.error.get('message')}"
    if step.items:
        done = sum(i.status == "succeeded" for i in step.items)
        return f"{done}/{len(step.items)} items succeeded"
    return step.reason or ""


def render(run: RunPublic) -> RenderableType:
    """The run and its steps as a rich table."""
    from rich.table import Table

    title = f"run {run.id}: [{STYLE.get(run.status, '')}]{run.status}[/]"
    out = Table("step", "status", "attempts", "", title=title, title_justify="left", box=None,
                header_style="bold")  # fmt: skip
    for s in run.steps:
        status = cell(s.status)
        status.stylize(STYLE.get(s.status, ""))
        out.add_row(cell(s.id), status, str(s.attempts), cell(_detail(s)))
    return out


@runs_app.command("show")
def show(run_id: RunId, url: Url = None, token: Token = None, as_json: AsJson = False) -> None:
    """One run with every step's status, attempts and error (--json: outputs too)."""
    from rich.console import Console

    with connected(url, token) as client:
        run = client.runs.get(run_id)
    if as_json:
        print_json(run)
        return
    Console(soft_wrap=True).print(render(run))
    if run.output is not None:
        typer.echo(f"output: {json.dumps(run.output, ensure_ascii=False)}")


@runs_app.command("events")
def events(run_id: RunId, url: Url = None, token: Token = None) -> None:
    """The run's events in order, one JSON object per line."""
    with connected(url, token) as client:
        for event in client.runs.events(run_id):
            typer.echo(event.model_dump_json())


def waiting_on_person(run: RunPublic) -> bool:
    """A step (or foreach item) waits for an approval or a signal: a person's move."""
    return any((s.waiting or {}).get("kind") in ("approval", "signal") for s in run.steps)


def _caught_up(client: Client, run_id: str, version: int) -> RunPublic:
    """The run once the read model shows ``version`` (it may lag the events by a moment)."""
    import tenacity

    fresh: RunPublic = tenacity.Retrying(
        stop=tenacity.stop_after_delay(5), wait=tenacity.wait_fixed(0.1),
        retry=tenacity.retry_if_result(lambda r: r.version < version),
        retry_error_callback=lambda state: state.outcome.result(),  # type: ignore[union-attr]
    )(client.runs.get, run_id)  # fmt: skip
    return fresh


@runs_app.command("watch")
def watch(
    run_id: RunId,
    until_waiting: Annotated[
        bool, typer.Option("--until-waiting", help="Also stop (exit 0) once a step waits for "
                           "an approval or a signal.")
    ] = False,
    url: Url = None,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """Draw the run's steps live until it ends; exit 0 succeeded, 1 failed, 3 cancelled.

    With --json: the events as JSON lines instead, then the run."""
    from rich.console import Console
    from rich.live import Live

    with connected(url, token) as client:
        run = client.runs.get(run_id)
        live = Live(render(run), console=Console(), auto_refresh=False, transient=False)
        with live if not as_json else nullcontext():
            for event in client.runs.stream(run_id):
                if as_json:
                    typer.echo(event.model_dump_json())
                run = _caught_up(client, run_id, event.sequence)
                live.update(render(run), refresh=not as_json)
                if until_waiting and waiting_on_person(run):
                    break
    if as_json:
        print_json(run)
    if run.status in ENDED_EXIT:
        raise typer.Exit(ENDED_EXIT[run.status])


def _decide(decision: str) -> None:
    def command(
        run_id: RunId,
        step_id: StepId,
        comment: Annotated[str | None, typer.Option(help="Kept with the decision.")] = None,
        index: Annotated[
            int | None, typer.Option(min=0, help="A foreach item's index.")
        ] = None,
        if_match: IfMatch = None,
        url: Url = None,
        token: Token = None,
        as_json: AsJson = False,
    ) -> None:
        with connected(url, token) as client:
            fn = client.runs.approve if decision == "approve" else client.runs.reject
            run = fn(run_id, step_id, comment, index, if_match)
        if as_json:
            print_json(run)
        else:
            typer.echo(f"{decision}d {step_id}: run {run.id} {run.status}")

    command.__doc__ = f"{decision.capitalize()} a step waiting for an approval."
    runs_app.command(decision)(command)


for _decision in ("approve", "reject"):
    _decide(_decision)


@runs_app.command("cancel")
def cancel(
    run_id: RunId,
    reason: Annotated[str | None, typer.Option(help="Why (kept on the run).")] = None,
    if_match: IfMatch = None,
    url: Url = None,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """Cancel a run that has not ended (and its running child runs)."""
    with connected(url, token) as client:
        run = client.runs.cancel(run_id, reason, if_match)
    print_json(run) if as_json else typer.echo(f"run {run.id} {run.status}")


@runs_app.command("rerun")
def rerun(
    run_id: RunId,
    from_step: Annotated[
        str | None, typer.Option(metavar="STEP_ID", help="Run this step and what follows it "
                                 "again (default: the failed steps).")
    ] = None,
    input_json: Annotated[
        str | None, typer.Option("--input", metavar="JSON", help="A new input.")
    ] = None,
    url: Url = None,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """Start a new run of an ended run's version, reusing its succeeded steps' outputs."""
    data = _json_option(input_json, "--input")
    with connected(url, token) as client:
        again = client.runs.rerun(run_id, from_step, data)
    if as_json:
        print_json(again)
    else:
        typer.echo(f"run {again.id} reruns {again.rerun_of}; reused: {', '.join(again.reused)}")


@runs_app.command("signal")
def signal(
    run_id: RunId,
    name: Annotated[str, typer.Argument(metavar="NAME", help="The signal's name.")],
    payload: Annotated[
        str, typer.Option(metavar="JSON", help="The waiting step's output.")
    ] = "{}",
    url: Url = None,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """Send a signal to a run (buffered if no step waits for it yet)."""
    data = _json_option(payload, "--payload")
    with connected(url, token) as client:
        sent = client.runs.signal(run_id, name, data)
    if as_json:
        print_json(sent)
    else:
        typer.echo(f"signal {name}: " + (f"step {sent.step_id}" if sent.step_id else "buffered"))


def _tree(client: Client, run_id: str, depth: int = 0) -> dict[str, Any]:
    run = client.runs.get(run_id)
    children = [_tree(client, str(c), depth + 1) for c in run.children] if depth < 6 else []
    return {"id": str(run.id), "status": run.status, "workflow_id": str(run.workflow_id),
            "children": children}  # fmt: skip


@runs_app.command("tree")
def tree(run_id: RunId, url: Url = None, token: Token = None, as_json: AsJson = False) -> None:
    """A run and the child runs its `workflow:` steps started, as a tree."""
    from rich.console import Console
    from rich.tree import Tree

    with connected(url, token) as client:
        root = _tree(client, run_id)
    if as_json:
        print_json(plain(root))
        return

    def add(node: Tree, run: dict[str, Any]) -> None:
        style = STYLE.get(run["status"], "")
        branch = node.add(f"{run['id']} [{style}]{run['status']}[/]")
        for child in run["children"]:
            add(branch, child)

    top = Tree(f"{root['id']} [{STYLE.get(root['status'], '')}]{root['status']}[/]")
    for child in root["children"]:
        add(top, child)
    Console(soft_wrap=True).print(top)

