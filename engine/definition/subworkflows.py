"""Submit-time checks of ``workflow:<name>[@<version>]`` steps: the workflow exists, and the
tree of sub-workflows it starts is no deeper than ``MAX_DEPTH`` and has no cycle.

What is knowable at submit is checked here: the names (through the tenant's workflows), and
the references of the definitions they name (their current version, or the pinned one). A
cycle closed by a later change of another workflow is stopped at run time by the depth limit
(``domain.runs.links.MAX_DEPTH``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from domain.kernel.errors import Problem
from domain.runs.links import MAX_DEPTH
from engine.definition.dsl import parse_workflow_uses

WorkflowResolver = Callable[[str, "int | None"], "dict[str, Any] | str"]
"""(workflow name, definition version or None) -> that definition (the tenant's one workflow
of that name that is not archived), or a message saying why there is none."""


def references(definition: Any) -> list[tuple[int, str, int | None]]:
    """(step position, workflow name, version) of every ``workflow:`` step of a definition."""
    steps = definition.get("steps") if isinstance(definition, dict) else None
    found: list[tuple[int, str, int | None]] = []
    for i, step in enumerate(steps if isinstance(steps, list) else []):
        uses = step.get("uses") if isinstance(step, dict) else None
        parsed = parse_workflow_uses(uses) if isinstance(uses, str) else None
        if parsed is not None:
            found.append((i, *parsed))
    return found


def workflow_problems(
    definition: dict[str, Any], resolver: WorkflowResolver | None
) -> Iterator[Problem]:
    """Unknown workflows, and trees deeper than ``MAX_DEPTH`` or with a cycle."""
    if resolver is None:
        return
    for i, name, version in references(definition):
        at = f"/steps/{i}/uses"
        found = resolver(name, version)
        if isinstance(found, str):
            yield Problem(at, found)
            continue
        problem = _deepest(resolver, found, [name])
        if problem is not None:
            yield Problem(at, problem)


def _deepest(
    resolver: WorkflowResolver, definition: dict[str, Any], chain: list[str]
) -> str | None:
    """A message if the sub-workflows under ``chain`` nest too deep or come back."""
    if len(chain) > MAX_DEPTH:
        shown = " -> ".join(f"'{n}'" for n in chain)
        return f"sub-workflows nest deeper than {MAX_DEPTH} levels: {shown}"
    for _, name, version in references(definition):
        if name in chain:
            shown = " -> ".join(f"'{n}'" for n in [*chain, name])
            return f"sub-workflows form a cycle: {shown}"
        found = resolver(name, version)
        if isinstance(found, dict):
            problem = _deepest(resolver, found, [*chain, name])
            if problem is not None:
                return problem
    return None
