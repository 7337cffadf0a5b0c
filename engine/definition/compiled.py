"""A definition version compiled: its steps in order, their expressions and effective policies.

Compiled once per content hash (`CompiledDefinition.of` keeps the process's cache).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from engine.definition.dsl import (
    Definition,
    RetryPolicy,
    Step,
    ancestor_sets,
    definition_hash,
    effective_retry,
    effective_timeout,
)
from engine.definition.errors import DefinitionCycleError, ExpressionError
from engine.definition.expressions import Expression, Scope
from engine.definition.templates import Template, unwrap


@dataclass(eq=False)
class CompiledStep:
    """A step with its expressions compiled and its effective policies resolved."""

    step: Step
    position: int
    with_: Template
    if_: Expression | None
    foreach: Expression | None
    retry: RetryPolicy
    timeout_s: float | None
    ancestors: frozenset[str] = field(default_factory=frozenset)

    @property
    def id(self) -> str:
        return self.step.id


class CompiledDefinition:
    """A definition version with every expression compiled once; cached by content hash.

    Build with `CompiledDefinition.of(data)`; the data must already be valid
    (`engine.definition.validation.validate_definition` returns no problems), else
    DefinitionCycleError or ExpressionError is raised.
    """

    _cache: OrderedDict[str, CompiledDefinition] = OrderedDict()
    _cache_lock = threading.Lock()
    cache_size = 256

    def __init__(self, data: dict[str, Any], hash_: str | None = None) -> None:
        self.data = data
        self.hash = hash_ or definition_hash(data)
        self.definition = Definition.model_validate(data)
        graph: nx.DiGraph[str] = nx.DiGraph()
        positions = {s.id: i for i, s in enumerate(self.definition.steps)}
        graph.add_nodes_from(positions)
        graph.add_edges_from((need, s.id) for s in self.definition.steps for need in s.needs)
        if not nx.is_directed_acyclic_graph(graph):
            raise DefinitionCycleError("the steps' needs form a cycle")
        #: Step ids in a topological order, ties broken by position in the definition.
        self.order: tuple[str, ...] = tuple(
            nx.lexicographical_topological_sort(graph, key=positions.__getitem__)
        )
        self.steps: dict[str, CompiledStep] = {}
        ancestors = ancestor_sets(graph)
        for sid in self.order:
            step = self.definition.steps[positions[sid]]
            self.steps[sid] = CompiledStep(
                step=step,
                position=positions[sid],
                with_=Template(step.with_),
                if_=Expression.compile(unwrap(step.if_)) if step.if_ is not None else None,
                foreach=Expression.compile(unwrap(step.foreach)) if step.foreach else None,
                retry=effective_retry(self.definition, step),
                timeout_s=effective_timeout(self.definition, step),
                ancestors=ancestors[sid],
            )
        self.output = Template(self.definition.output)

    @classmethod
    def of(cls, data: dict[str, Any]) -> CompiledDefinition:
        """The compiled form of `data`, from the cache when this content was compiled before."""
        key = definition_hash(data)
        found = cls.cached(key)
        if found is not None:
            return found
        compiled = cls(data, key)
        with cls._cache_lock:
            cls._cache[key] = compiled
            while len(cls._cache) > cls.cache_size:
                cls._cache.popitem(last=False)
        return compiled

    @classmethod
    def cached(cls, hash_: str) -> CompiledDefinition | None:
        """The definition of this content hash, if this process compiled it lately."""
        with cls._cache_lock:
            found = cls._cache.get(hash_)
            if found is not None:
                cls._cache.move_to_end(hash_)
            return found

    @property
    def step_ids(self) -> list[str]:
        """Step ids in definition order."""
        return [s.id for s in self.definition.steps]

    def evaluate_if(self, step_id: str, scope: Scope) -> bool:
        """The step's condition (True when it has none). Raises ExpressionError."""
        expr = self.steps[step_id].if_
        if expr is None:
            return True
        value = expr.evaluate(scope)
        if not isinstance(value, bool):
            raise ExpressionError(expr.source, f"gave {_describe(value)}; `if` needs a bool")
        return value

    def evaluate_foreach(self, step_id: str, scope: Scope, *, max_items: int = 10_000) -> list[Any]:
        """The list a foreach step runs over. Raises ExpressionError."""
        expr = self.steps[step_id].foreach
        assert expr is not None, f"step {step_id!r} has no foreach"
        value = expr.evaluate(scope)
        if not isinstance(value, list):
            raise ExpressionError(expr.source, f"gave {_describe(value)}; `foreach` needs a list")
        if len(value) > max_items:
            raise ExpressionError(expr.source, f"gave {len(value)} items; the limit is {max_items}")
        return value

    def evaluate_with(self, step_id: str, scope: Scope) -> Any:
        """The step's input. Raises ExpressionError."""
        return self.steps[step_id].with_.render(scope)

    def evaluate_output(self, scope: Scope) -> Any:
        """The run's output. Raises ExpressionError."""
        return self.output.render(scope)


def _describe(value: Any) -> str:
    kind = {dict: "an object", list: "a list", str: "a string", bool: "a bool"}.get(type(value))
    if value is None:
        return "null"
    return kind or f"a number ({value})"
