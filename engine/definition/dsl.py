"""The workflow definition language (v1): pydantic models, loading, and the published JSON Schema.

The models describe the *shape* of a definition. Cross-field rules (unique ids, known needs, an
acyclic graph, expressions that parse and reference known names) live in
`engine.definition.validation`, so that every problem can be reported at once with a JSON
Pointer.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import networkx as nx
import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from engine.definition.errors import DefinitionTextError

STEP_ID_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
MAX_STEPS = 500
"""Most steps a definition may have (checked first, before any work per step or on the graph)."""
BUILTIN_KINDS: tuple[str, ...] = (
    "noop", "transform", "http", "notify", "wait", "approval", "fail", "signal",
)  # fmt: skip
"""The built-in step kinds: the one list (`engine.steps.registry` implements exactly these)."""
SKILL_PREFIX = "skill:"
_SKILL_NAME = r"[a-z][a-z0-9_.-]{0,62}"
SKILL_NAME_PATTERN = rf"^{_SKILL_NAME}$"
WORKFLOW_PREFIX = "workflow:"
_WORKFLOW_NAME = r"[^\s@][^@]{0,254}"
WORKFLOW_USES_PATTERN = (
    rf"^{WORKFLOW_PREFIX}(?P<name>{_WORKFLOW_NAME})(@(?P<version>[1-9][0-9]{{0,8}}))?$"
)
"""``workflow:<name>[@<definition version>]``: a sub-workflow (a child run)."""
USES_PATTERN = (
    rf"^({'|'.join(BUILTIN_KINDS)}|{SKILL_PREFIX}{_SKILL_NAME}(@[^\s@]+( [^\s@]+)*)?"
    rf"|{WORKFLOW_PREFIX}{_WORKFLOW_NAME}(@[1-9][0-9]{{0,8}})?)$"
)
SCHEMA_PATH = Path(__file__).parent / "schema" / "workflow-definition.json"
SCHEMA_ID = "/v1/schemas/workflow-definition"

StepId = Annotated[str, StringConstraints(pattern=STEP_ID_PATTERN)]
Trigger = Literal["all_success", "any_success", "all_done"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class RetryPolicy(_Model):
    """How a failed attempt is retried. Delay n = min(max, initial * multiplier**(n-1))."""

    max_attempts: int = Field(
        default=1, ge=1, le=100, description="Attempts in all, the first included."
    )
    initial_interval_s: float = Field(default=1.0, ge=0, le=86_400)
    multiplier: float = Field(default=2.0, ge=1, le=100)
    max_interval_s: float = Field(default=300.0, ge=0, le=86_400)
    jitter: bool = Field(default=True, description="Scale each delay by a factor in [0.5, 1).")
    retry_on: list[str] | None = Field(
        default=None,
        description="Error kinds to retry. Unset: retry what the step kind reports as retryable.",
    )


class Defaults(_Model):
    """Step settings applied where a step does not set its own."""

    timeout_s: float | None = Field(default=None, gt=0, le=31_536_000)
    retry: RetryPolicy | None = None


class Step(_Model):
    """One node of the workflow graph."""

    id: StepId
    uses: str = Field(
        description="A built-in kind, `skill:<name>[@<semver range>]` or "
        "`workflow:<name>[@<version>]` (a sub-workflow: a child run of that workflow).",
        json_schema_extra={"pattern": USES_PATTERN},
    )
    name: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    needs: list[StepId] = Field(default_factory=list)
    if_: str | None = Field(default=None, alias="if", description="A CEL boolean expression.")
    trigger: Trigger = "all_success"
    with_: Any = Field(default=None, alias="with", description="The step input; templates allowed.")
    foreach: str | None = Field(default=None, description="An expression giving a list.")
    max_parallel: int | None = Field(default=None, ge=1, le=1000)
    retry: RetryPolicy | None = None
    timeout_s: float | None = Field(default=None, gt=0, le=31_536_000)
    continue_on_error: bool = False


class Definition(_Model):
    """A workflow definition (v1)."""

    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    input_schema: dict[str, Any] | None = None
    defaults: Defaults = Field(default_factory=Defaults)
    steps: list[Step] = Field(min_length=1, max_length=MAX_STEPS)
    output: Any = None


def parse_uses(uses: str) -> tuple[str, str | None]:
    """The skill name and semver range (None when absent) of ``skill:<name>[@<range>]``."""
    name, _, version_range = uses.removeprefix(SKILL_PREFIX).partition("@")
    return name, version_range or None


def parse_workflow_uses(uses: str) -> tuple[str, int | None] | None:
    """The workflow name and definition version (None: its current) of ``workflow:<name>[@n]``,
    or None when ``uses`` is not a well-formed sub-workflow reference."""
    m = re.match(WORKFLOW_USES_PATTERN, uses)
    if m is None or not m.group("name").strip():
        return None
    version = m.group("version")
    return m.group("name").rstrip(), int(version) if version else None


def ancestor_sets(graph: nx.DiGraph[str]) -> dict[str, frozenset[str]]:
    """Every node's ancestors (as `nx.ancestors` gives them), for all nodes at once.

    One pass over the condensation in topological order with the ancestors as bit masks:
    O(V + E) big-int operations instead of one graph walk per node (O(V * (V + E)), which made
    a dense 500-step graph cost seconds). Cycles are allowed (their members see each other).
    """
    cond = nx.condensation(graph)
    members: dict[int, list[str]] = {c: sorted(cond.nodes[c]["members"]) for c in cond}
    masks: dict[int, int] = {}
    for c in nx.topological_sort(cond):
        mask = 0
        for p in cond.predecessors(c):
            mask |= masks[p] | (1 << p)
        masks[c] = mask
    found: dict[str, frozenset[str]] = {}
    for c, mask in masks.items():
        above: list[str] = []
        while mask:
            low = mask & -mask
            above.extend(members[low.bit_length() - 1])
            mask ^= low
        own = members[c] if len(members[c]) > 1 else []
        for node in members[c]:
            found[node] = frozenset([*above, *(m for m in own if m != node)])
    return found


def effective_retry(definition: Definition, step: Step) -> RetryPolicy:
    """The step's retry policy: its own fields over the defaults' fields over the built-in ones."""
    fields: dict[str, Any] = {}
    for policy in (definition.defaults.retry, step.retry):
        if policy is not None:
            fields.update({name: getattr(policy, name) for name in policy.model_fields_set})
    return RetryPolicy(**fields)


def effective_timeout(definition: Definition, step: Step) -> float | None:
    """The step's per-attempt timeout in seconds, or None for no timeout.

    `defaults.timeout_s` does not apply to a `wait`: a timer's length is its own, so only the
    step's explicit `timeout_s` bounds it.
    """
    if step.timeout_s is not None or step.uses == "wait":
        return step.timeout_s
    return definition.defaults.timeout_s


MAX_NESTING_DEPTH = 64
"""Deepest nesting of objects and lists a submitted definition may have (JSON or YAML)."""
MAX_YAML_NODES = 100_000
"""Most YAML nodes a document may stand for once its aliases are expanded (an alias bomb of
409 bytes stands for 10**7): counted on the composed node graph, before anything is built."""
_TOO_DEEP = f"the definition nests deeper than {MAX_NESTING_DEPTH} levels"


class _BoundedLoader(yaml.SafeLoader):
    """The safe loader, refusing nesting deeper than `MAX_NESTING_DEPTH` while it composes
    (before Python's recursion limit is near)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self.depth += 1
        try:
            if self.depth > MAX_NESTING_DEPTH:
                raise DefinitionTextError(_TOO_DEEP)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _expanded_nodes(root: yaml.Node) -> int:
    """How many nodes the document stands for with every alias expanded (shared nodes are
    counted once per use; iterative, memoised per node): DefinitionTextError past
    `MAX_YAML_NODES`."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    on_path: set[int] = set()
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            total = 1 + sum(sizes[id(c)] for c in _children(node))
            if total > MAX_YAML_NODES:
                raise DefinitionTextError(
                    f"the definition stands for more than {MAX_YAML_NODES:,} values once its "
                    "YAML aliases are expanded"
                )
            sizes[key] = total
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise DefinitionTextError("the definition has a YAML alias to a node that contains it")
        on_path.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in _children(node) if id(c) not in sizes)
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _depth_problem(data: Any) -> str | None:
    """A message if JSON data nests deeper than `MAX_NESTING_DEPTH` (iterative)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > MAX_NESTING_DEPTH:
                return _TOO_DEEP
            children = value.values() if isinstance(value, dict) else value
            stack.extend((c, depth + 1) for c in children)
    return None


def load_definition_text(text: str) -> Any:
    """Parse a definition submitted as JSON or YAML; the result is plain JSON data (not validated).

    YAML is read with the safe loader; values YAML has but JSON lacks (dates) become strings.
    Bounded before any expensive work: nesting deeper than `MAX_NESTING_DEPTH` and aliases that
    expand to more than `MAX_YAML_NODES` nodes are refused.
    Raises DefinitionTextError (a ValueError) with the parser's message when the text is
    neither, or is refused.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        pass
    except RecursionError:
        raise DefinitionTextError(_TOO_DEEP) from None
    else:
        if (problem := _depth_problem(data)) is not None:
            raise DefinitionTextError(problem)
        return data
    try:  # the reader refuses some characters (control characters) when it is made
        loader = _BoundedLoader(text)
    except yaml.YAMLError as e:
        raise DefinitionTextError(f"the definition is neither JSON nor YAML: {e}") from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_nodes(node)
        data = loader.construct_document(node)
    except yaml.YAMLError as e:
        raise DefinitionTextError(f"the definition is neither JSON nor YAML: {e}") from None
    except RecursionError:
        raise DefinitionTextError(_TOO_DEEP) from None
    finally:
        loader.dispose()
    # Round-trip so that YAML-only values (dates, non-string keys) become JSON values.
    return json.loads(json.dumps(data, default=str))


def definition_hash(definition: dict[str, Any]) -> str:
    """A stable content hash of a definition: sha256 of its canonical JSON."""
    canonical = json.dumps(definition, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def definition_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a definition, as generated from the models."""
    schema = Definition.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Platinum workflow definition (v1)",
        **{k: v for k, v in schema.items() if k != "title"},
    }


def published_json_schema() -> dict[str, Any]:
    """The schema file shipped in `engine/definition/schema/` (kept equal to the generated one by
    a test)."""
    data: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
    return data


if __name__ == "__main__":  # pragma: no cover - regenerates the shipped schema file
    SCHEMA_PATH.write_text(json.dumps(definition_json_schema(), indent=2) + "\n")
