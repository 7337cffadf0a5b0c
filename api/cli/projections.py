"""``platinum projections rebuild|retry``: rebuild read-model projections, apply parked events."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from api.cli.common import configure_logging, database, fail, settings, stderr_progress

if TYPE_CHECKING:
    from projections.runner import ProjectionRunner

app = typer.Typer(help="Read-model projections.", no_args_is_help=True)

Name = Annotated[str | None, typer.Argument(help="Projection name; all when omitted.")]


def _selected_runners(name: str | None) -> list[ProjectionRunner]:
    """The projection runners named ``name`` (all when None); an unknown name is a one-line
    error listing the known ones."""
    from api.background import build_projection_runners

    current = settings()
    configure_logging("WARNING")
    runners = build_projection_runners(current, database(current))
    selected = [r for r in runners if name is None or r.projection.name == name]
    if not selected:
        known = ", ".join(sorted({r.projection.name for r in runners}))
        raise fail(f"no projection named {name!r} (known: {known})")
    return selected


@app.command("rebuild")
def projections_rebuild(name: Name = None) -> None:
    """Rebuild read-model projections from zero, with progress."""
    selected = _selected_runners(name)
    with stderr_progress() as progress:
        for runner in selected:
            total = runner.head()
            task = progress.add_task(f"{runner.projection.name} ← {runner.app.name}", total=total)
            runner.on_batch = lambda n, t=task: progress.advance(t, n)
            runner.rebuild()
            progress.update(task, completed=total)
    for runner in selected:
        runner.app.close()


@app.command("retry")
def projections_retry(name: Name = None) -> None:
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
