"""Submit-time validation of a workflow definition: every problem at once, each with a JSON Pointer.

    problems = validate_definition(data, skill_resolver=resolver)
    if problems:  # a Problem is (pointer, message): domain.kernel.errors.ValidationError takes them
        raise ValidationError(problems)

Checks: the shape and the steps (`engine.definition.step_checks`: the pydantic models of
`engine.definition.dsl`, unique step ids, known needs, an acyclic graph with the cycle named,
`uses` being a built-in kind or an installed skill, per-kind required inputs,
foreach/max_parallel/retry_on consistency); here, `input_schema` being a JSON Schema and every
expression: it parses, stays within cost bounds and reads only names in scope (`steps.<id>`
must be a step this one needs, directly or transitively).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import jsonschema
import networkx as nx

from domain.kernel.errors import Problem
from domain.kernel.pointers import escape as _escape
from engine.definition.dsl import MAX_STEPS, SKILL_PREFIX, ancestor_sets
from engine.definition.errors import ExpressionError
from engine.definition.expressions import RUN_FIELDS, STEP_FIELDS, Expression, blank_strings
from engine.definition.step_checks import (
    SkillResolver,
    shape_problems,
    step_ids,
    step_problems,
    suggest,
)
from engine.definition.subworkflows import WorkflowResolver, workflow_problems
from engine.definition.templates import template_expressions, unwrap
from engine.definition.typecheck import TypeChecker

_RUN_FIELD = re.compile(r"(?<![\w.])run\s*\.\s*([A-Za-z_]\w*)")


def validate_definition(
    definition: Any,
    *,
    skill_resolver: SkillResolver | None = None,
    workflow_resolver: WorkflowResolver | None = None,
) -> list[Problem]:
    """Every problem of a submitted definition (plain JSON data); [] when it is valid.

    ``workflow_resolver`` finds the tenant's workflows for ``workflow:`` steps (without one,
    their names are not looked up)."""
    if not isinstance(definition, dict):
        return [Problem("", "a workflow definition must be a JSON object")]
    steps = definition.get("steps")
    if isinstance(steps, list) and len(steps) > MAX_STEPS:
        # the cheap cap first: every later check costs per step (and the graph more)
        return [Problem("/steps", f"has {len(steps):,} steps; the limit is {MAX_STEPS}")]
    problems = list(shape_problems(definition))
    if isinstance(steps, list):
        problems += step_problems(steps, skill_resolver)
        problems += _expression_problems(definition, steps)
        problems += workflow_problems(definition, workflow_resolver)
    schema = definition.get("input_schema")
    if isinstance(schema, dict):
        problems += _input_schema_problems(schema)
    return sorted(dict.fromkeys(problems), key=lambda p: _pointer_key(p.pointer))


def _pointer_key(pointer: str) -> list[tuple[int, int | str]]:
    # ASCII digits only, and few ('²'.isdigit() is True; int() of 5,000 digits raises)
    return [
        (0, int(t)) if t.isascii() and t.isdigit() and len(t) <= 18 else (1, t)
        for t in pointer.split("/")
    ]


def _input_schema_problems(schema: dict[str, Any]) -> Iterator[Problem]:
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as e:
        where = "".join(f"/{_escape(p)}" for p in e.path)
        yield Problem(f"/input_schema{where}", f"not a valid JSON Schema: {e.message}")


# --------------------------------------------------------------------------------------------
# Expressions


def _expression_problems(definition: dict[str, Any], steps: list[Any]) -> Iterator[Problem]:
    ids = step_ids(steps)
    types = TypeChecker(ids, definition.get("input_schema"))
    graph: nx.DiGraph[str] = nx.DiGraph()
    graph.add_nodes_from(ids)
    for step_id, i in ids.items():
        needs = steps[i].get("needs")
        if isinstance(needs, list):
            graph.add_edges_from((n, step_id) for n in needs if isinstance(n, str) and n in ids)
    ancestors = ancestor_sets(graph)
    for i, step in enumerate(steps):
        if not isinstance(step, dict):
            continue
        sid = step.get("id")
        own = isinstance(sid, str) and ids.get(sid) == i
        visible = ancestors[sid] if own and isinstance(sid, str) else frozenset()
        ctx = _Context(
            who=f"step '{sid}'" if isinstance(sid, str) else f"step {i}",
            ids=ids,
            visible=visible,
            skill=isinstance(step.get("uses"), str) and step["uses"].startswith(SKILL_PREFIX),
            types=types,
        )
        for key, want in (("if", "bool"), ("foreach", "list")):
            source = step.get(key)
            if isinstance(source, str):
                yield from ctx.check(f"/steps/{i}/{key}", unwrap(source), item=False, want=want)
        foreach = isinstance(step.get("foreach"), str)
        for pointer, source in template_expressions(step.get("with"), f"/steps/{i}/with"):
            yield from ctx.check(pointer, source, item=foreach)
    everything = _Context("the run output", ids, frozenset(ids), skill=False, types=types)
    for pointer, source in template_expressions(definition.get("output"), "/output"):
        yield from everything.check(pointer, source, item=False)


class _Context:
    """Where an expression sits: which names and steps it may read."""

    def __init__(
        self,
        who: str,
        ids: dict[str, int],
        visible: frozenset[str],
        *,
        skill: bool,
        types: TypeChecker,
    ) -> None:
        self.who, self.ids, self.visible, self.skill = who, ids, visible, skill
        self.types = types

    def check(
        self, pointer: str, source: str, *, item: bool, want: str | None = None
    ) -> Iterator[Problem]:
        """Name problems first; only an expression whose names are all right is type-checked
        (`want`: the value must be a "bool" or a "list")."""
        try:
            expr = Expression.compile(source)
        except ExpressionError as e:
            yield Problem(pointer, str(e))
            return
        problems = list(self._name_problems(pointer, expr, item=item))
        yield from problems
        if not problems:
            where = f"expression `{expr.source}` in {self.who}"
            for message in self.types.problems(expr.source, want):
                yield Problem(pointer, f"{where}: {message}")

    def _name_problems(self, pointer: str, expr: Expression, *, item: bool) -> Iterator[Problem]:
        allowed = {"input", "steps", "run"} | ({"config"} if self.skill else set())
        allowed |= {"item", "index"} if item else set()
        shown = f"`{expr.source}`"
        for root in sorted(expr.analysis.roots - allowed):
            if root in ("item", "index"):
                why = "only defined in the with of a foreach step"
            elif root == "config":
                why = "only defined in skill steps"
            else:
                why = "not defined" + suggest(root, allowed)
                why = why.replace("; did", ". Did") if "did you" in why else why
            yield Problem(pointer, f"{shown} in {self.who} reads '{root}', which is {why}")
        for ref, attr in expr.analysis.step_refs:
            if ref not in self.ids:
                yield Problem(
                    pointer,
                    f"{shown} in {self.who} reads steps.{ref}, but there is no step '{ref}'"
                    + suggest(ref, self.ids),
                )
            elif ref not in self.visible:
                yield Problem(
                    pointer,
                    f"{shown} in {self.who} reads steps.{ref}, but {self.who} does not need "
                    f"'{ref}' (directly or through its needs), so it may not have run yet",
                )
            elif attr is not None and attr not in STEP_FIELDS:
                yield Problem(
                    pointer,
                    f"{shown} reads steps.{ref}.{attr}; a step has only 'output' and 'status'"
                    + suggest(attr, STEP_FIELDS),
                )
        for m in _RUN_FIELD.finditer(blank_strings(expr.source)):
            if "run" in expr.analysis.roots and m.group(1) not in RUN_FIELDS:
                yield Problem(
                    pointer,
                    f"{shown} reads run.{m.group(1)}; run has only id, started_by, started_at"
                    + suggest(m.group(1), RUN_FIELDS),
                )
