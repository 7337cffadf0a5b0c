"""Expressions and templates: CEL (via `common-expression-language`), compiled once per definition.

Sandbox: CEL has no attribute access to host objects, no I/O, no loops other than bounded macros
over finite data; the scope holds plain JSON values only. Cost is bounded statically: an
expression is at most `MAX_EXPRESSION_LENGTH` characters and nests comprehension macros
(`map`, `filter`, `all`, `exists`, `exists_one`) at most `MAX_COMPREHENSION_DEPTH` deep, so an
evaluation is O(len(expr) * size(data) ** depth), with data bounded by the output size limit.

Templates: a string that is exactly `${{ expr }}` becomes the expression's value (any JSON type);
`${{ expr }}` inside a longer string is interpolated as text (strings as they are, other values
as compact JSON). An expression inside a template cannot contain `}}`.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import cel
import networkx as nx

from domain.kernel.pointers import escape as _escape
from engine.definition.dsl import (
    Definition,
    RetryPolicy,
    Step,
    ancestor_sets,
    definition_hash,
    effective_retry,
    effective_timeout,
)
from engine.definition.sandbox import Limits, Sandbox, SandboxError, first_line, plain_json

MAX_EXPRESSION_LENGTH = 4096
MAX_COMPREHENSION_DEPTH = 2
SCOPE_ROOTS = frozenset({"input", "steps", "run", "config", "item", "index"})
STEP_FIELDS = frozenset({"output", "status"})
RUN_FIELDS = frozenset({"id", "started_by", "started_at"})
_MACROS = ("map", "filter", "all", "exists", "exists_one")
_TEMPLATE = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)
_MACRO_CALL = re.compile(r"\.\s*(?:" + "|".join(_MACROS) + r")\s*\(\s*(?:([A-Za-z_]\w*)\s*,)?")
_STEPS_REF = re.compile(r"(?<![\w.])steps\b")
_STEP_FIELD = re.compile(r"\s*\.\s*([A-Za-z_]\w*)(?:\s*\.\s*([A-Za-z_]\w*))?")


class ExpressionError(Exception):
    """An expression failed to compile or to evaluate; a step failing on it fails with kind
    `expression`."""

    kind = "expression"

    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"expression `{source.strip()}`: {message}")
        self.source = source
        self.message = message


# --------------------------------------------------------------------------------------------
# Static analysis


def blank_strings(src: str) -> str:
    """`src` with the contents of string and bytes literals blanked (same length, same offsets)."""
    out = list(src)
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c in "\"'":
            j = i - 1
            raw = False
            while j >= 0 and src[j] in "rRbB":
                raw = raw or src[j] in "rR"
                j -= 1
            quote = src[i : i + 3] if src[i : i + 3] in ('"""', "'''") else c
            k = i + len(quote)
            while k < n and not src.startswith(quote, k):
                if src[k] == "\\" and not raw:
                    k += 1
                k += 1
            for m in range(i + len(quote), min(k, n)):
                out[m] = " "
            i = k + len(quote)
        else:
            i += 1
    return "".join(out)


@dataclass(frozen=True)
class Analysis:
    """What an expression refers to: root names and the `steps.<id>[.<field>]` it reads."""

    roots: frozenset[str]
    step_refs: tuple[tuple[str, str | None], ...]
    dynamic_steps: bool  # `steps` used other than as `steps.<id>`: every ancestor is in scope
    comprehension_depth: int


def analyze(src: str, program: Any) -> Analysis:
    """Find the names an expression refers to (using the compiled program's variable list)."""
    blank = blank_strings(src)
    bound = {m.group(1) for m in _MACRO_CALL.finditer(blank) if m.group(1)}
    roots = frozenset(v for v in program.variables() if v not in bound)
    refs: list[tuple[str, str | None]] = []
    dynamic = False
    if "steps" not in bound:
        for m in _STEPS_REF.finditer(blank):
            fm = _STEP_FIELD.match(blank, m.end())
            if fm is None or not blank[m.end() :].lstrip().startswith("."):
                dynamic = True
            else:
                refs.append((fm.group(1), fm.group(2)))
    return Analysis(roots, tuple(refs), dynamic, _comprehension_depth(blank))


def _comprehension_depth(blank: str) -> int:
    starts = {m.end() - 1 for m in re.finditer(r"\.\s*(?:" + "|".join(_MACROS) + r")\s*\(", blank)}
    stack: list[bool] = []
    depth = deepest = 0
    for i, c in enumerate(blank):
        if c == "(":
            is_macro = i in starts
            stack.append(is_macro)
            depth += is_macro
            deepest = max(deepest, depth)
        elif c == ")" and stack:
            depth -= stack.pop()
    return deepest


# --------------------------------------------------------------------------------------------
# Expressions and templates


@dataclass(frozen=True, eq=False)
class Expression:
    """A compiled CEL expression and what it refers to."""

    source: str
    program: Any
    analysis: Analysis

    @classmethod
    def compile(cls, source: str) -> Expression:
        """Compile `source`; raises ExpressionError if it is too long, too costly or malformed."""
        src = source.strip()
        if not src:
            raise ExpressionError(source, "the expression is empty")
        if len(src) > MAX_EXPRESSION_LENGTH:
            raise ExpressionError(
                src[:40] + "…",
                f"is {len(src)} characters long; the limit is {MAX_EXPRESSION_LENGTH}",
            )
        try:
            program = cel.compile(src)
        except Exception as e:  # the binding raises ValueError, but be sure nothing else escapes
            raise ExpressionError(src, f"does not parse: {_first_line(e)}") from None
        analysis = analyze(src, program)
        if analysis.comprehension_depth > MAX_COMPREHENSION_DEPTH:
            raise ExpressionError(
                src,
                f"nests comprehension macros {analysis.comprehension_depth} deep; "
                f"the limit is {MAX_COMPREHENSION_DEPTH}",
            )
        return cls(src, program, analysis)

    def evaluate(self, scope: Scope) -> Any:
        """Evaluate against `scope`; the result is plain JSON. Raises ExpressionError.

        Cheap evaluations (see `is_cheap`) run here; any other runs in the sandbox, under its
        time and memory budgets, or, on the request path, is deferred (`EvaluationDeferred`).
        """
        ctx = scope.context_for(self.analysis)
        policy = _policy.get()
        if self.is_cheap(ctx):
            if policy is not None and policy.defer_costly:
                policy.cheap_left -= 1
                if policy.cheap_left < 0:
                    raise EvaluationDeferred(self.source)
            return self._evaluate_here(ctx)
        if policy is not None and policy.defer_costly:
            raise EvaluationDeferred(self.source)
        self._check_estimate(ctx)
        return _evaluate_in_sandbox(self.source, ctx, policy)

    def _check_estimate(self, ctx: Mapping[str, Any]) -> None:
        """Fail fast, without spending the budget, when the comprehensions' cost is plainly over
        it: the binding's macros cost about n**2 for a list of n (measured: 0.1 s at 2,000
        items, 11 s at 20,000), so `depth` nested macros over lists of at most n items cost
        about n ** (depth + 1). The sandbox stays the bound; this saves burning it."""
        depth = self.analysis.comprehension_depth
        if depth == 0:
            return
        n = _largest_collection(ctx)
        estimate = n ** (depth + 1) / MACRO_STEPS_PER_S
        if estimate > _Config.limits.timeout_s:
            raise ExpressionError(
                self.source,
                f"would take about {estimate:,.0f}s of CPU ({depth} nested comprehensions over "
                f"up to {n:,} items); the time budget is {_Config.limits.timeout_s:g}s",
            )

    def is_cheap(self, ctx: Mapping[str, Any]) -> bool:
        """Whether evaluating here is bounded without a budget: no comprehension macro, at most
        `CHEAP_EXPRESSION_LENGTH` characters, and at most `CHEAP_DATA_BYTES` of data read (so
        at most a few milliseconds and megabytes, whatever the expression does)."""
        return (
            self.analysis.comprehension_depth == 0
            and len(self.source) <= CHEAP_EXPRESSION_LENGTH
            and _size_at_most(ctx, CHEAP_DATA_BYTES)
        )

    def _evaluate_here(self, ctx: dict[str, Any]) -> Any:
        try:
            value = self.program.execute(ctx)
        except KeyError as e:
            raise ExpressionError(self.source, f"no such key: {e}") from None
        except Exception as e:  # CEL raises several types; all are evaluation errors here
            raise ExpressionError(self.source, _first_line(e)) from None
        return to_json(value, self.source)


def _first_line(e: BaseException) -> str:
    return first_line(e)


def to_json(value: Any, source: str = "") -> Any:
    """Convert a CEL result to plain JSON data; raises ExpressionError for non-JSON values."""
    try:
        return plain_json(value)
    except ValueError as e:
        raise ExpressionError(source, str(e)) from None


# --------------------------------------------------------------------------------------------
# Bounded evaluation (docs/security.md, Bounded evaluation)


CHEAP_EXPRESSION_LENGTH = 256
CHEAP_DATA_BYTES = 64 * 1024
MACRO_STEPS_PER_S = 3.0e7
"""Comprehension steps (n**2 for one macro over n items) the CEL binding does per CPU second."""
REQUEST_EVALUATIONS = 1000
"""Cheap evaluations one advance on the request path may make before it is deferred."""


class EvaluationDeferred(Exception):  # noqa: N818 - a signal, not an error
    """On the request path, an expression that is not cheap: leave the run to a worker."""


@dataclass
class EvaluationPolicy:
    """How one advance of a run evaluates: deferring on the request path, else within a
    sandbox time budget shared by all of the pass's costly expressions."""

    defer_costly: bool = False
    sandbox_left_s: float = 10.0
    cheap_left: int = REQUEST_EVALUATIONS


class _Config:
    sandbox: Sandbox | None = None
    limits = Limits()
    advance_budget_s = 10.0
    lock = threading.Lock()


_policy: ContextVar[EvaluationPolicy | None] = ContextVar("evaluation_policy", default=None)


def configure_evaluation(limits: Limits, *, advance_budget_s: float) -> None:
    """Set the sandbox budgets of this process (the composition root calls it from settings)."""
    with _Config.lock:
        if _Config.sandbox is not None and _Config.limits != limits:
            _Config.sandbox.close()
            _Config.sandbox = None
        _Config.limits, _Config.advance_budget_s = limits, advance_budget_s


@contextmanager
def evaluation_policy(*, defer_costly: bool) -> Iterator[EvaluationPolicy]:
    """Evaluate the expressions of one scheduling pass under one policy."""
    policy = EvaluationPolicy(defer_costly, _Config.advance_budget_s)
    token = _policy.set(policy)
    try:
        yield policy
    finally:
        _policy.reset(token)


def _sandbox() -> Sandbox:
    with _Config.lock:
        if _Config.sandbox is None:
            _Config.sandbox = Sandbox(_Config.limits)
        return _Config.sandbox


def _evaluate_in_sandbox(source: str, ctx: dict[str, Any], policy: EvaluationPolicy | None) -> Any:
    if policy is not None and policy.sandbox_left_s <= 0:
        raise ExpressionError(
            source,
            f"not evaluated: this pass spent its expression time budget "
            f"({_Config.advance_budget_s:g}s)",
        )
    started = time.monotonic()
    try:
        return _sandbox().evaluate(source, ctx)
    except SandboxError as e:
        raise ExpressionError(source, str(e)) from None
    finally:
        if policy is not None:
            policy.sandbox_left_s -= time.monotonic() - started


def _largest_collection(value: Any) -> int:
    """The most items of any list or object in `value` (what a comprehension may iterate)."""
    largest = 0
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            largest = max(largest, len(v))
            stack.extend(v.values())
        elif isinstance(v, list | tuple):
            largest = max(largest, len(v))
            stack.extend(v)
    return largest


def _size_at_most(value: Any, limit: int) -> bool:
    """Whether `value` (JSON data) is at most about `limit` bytes; stops as soon as it is not."""
    total = 0
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            total += len(v) + 2
        elif isinstance(v, dict):
            total += 2 + len(v)
            for k, item in v.items():
                total += len(k) + 2 if isinstance(k, str) else 8
                stack.append(item)
        elif isinstance(v, list | tuple):
            total += 2 + len(v)
            stack.extend(v)
        else:
            total += 8
        if total > limit:
            return False
    return True


def unwrap(source: str) -> str:
    """Accept `expr` and `${{ expr }}` where a bare expression is expected (`if`, `foreach`)."""
    m = _TEMPLATE.fullmatch(source.strip())
    return m.group(1) if m else source


def template_expressions(value: Any, pointer: str = "") -> Iterator[tuple[str, str]]:
    """Every `(pointer, expression source)` in a template value (for validation)."""
    if isinstance(value, str):
        for m in _TEMPLATE.finditer(value):
            yield pointer, m.group(1)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from template_expressions(v, f"{pointer}/{_escape(str(k))}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from template_expressions(v, f"{pointer}/{i}")


class Template:
    """A JSON value with `${{ }}` expressions in its strings, compiled."""

    def __init__(self, value: Any) -> None:
        self._node = self._compile(value)
        self.expressions: list[Expression] = []
        self._collect(self._node)

    @classmethod
    def _compile(cls, value: Any) -> Any:
        if isinstance(value, str):
            parts = _TEMPLATE.split(value)  # [text, expr, text, expr, ..., text]
            if len(parts) == 1:
                return ("const", value)
            if len(parts) == 3 and parts[0] == "" and parts[2] == "":
                return ("value", Expression.compile(parts[1]))
            return (
                "text",
                [Expression.compile(p) if i % 2 else p for i, p in enumerate(parts)],
            )
        if isinstance(value, dict):
            items = [(k, cls._compile(v)) for k, v in value.items()]
            if all(node[0] == "const" for _, node in items):
                return ("const", value)
            return ("dict", items)
        if isinstance(value, list):
            nodes = [cls._compile(v) for v in value]
            if all(node[0] == "const" for node in nodes):
                return ("const", value)
            return ("list", nodes)
        return ("const", value)

    def _collect(self, node: Any) -> None:
        tag, body = node
        if tag == "value":
            self.expressions.append(body)
        elif tag == "text":
            self.expressions.extend(p for p in body if isinstance(p, Expression))
        elif tag == "dict":
            for _, child in body:
                self._collect(child)
        elif tag == "list":
            for child in body:
                self._collect(child)

    def render(self, scope: Scope) -> Any:
        """The template's value in `scope`. Raises ExpressionError."""
        return self._render(self._node, scope)

    def _render(self, node: Any, scope: Scope) -> Any:
        tag, body = node
        if tag == "const":
            return body
        if tag == "value":
            return body.evaluate(scope)
        if tag == "text":
            return "".join(
                _as_text(p.evaluate(scope)) if isinstance(p, Expression) else p for p in body
            )
        if tag == "dict":
            return {k: self._render(child, scope) for k, child in body}
        return [self._render(child, scope) for child in body]


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    import json

    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# --------------------------------------------------------------------------------------------
# Scope


_ABSENT: Any = object()


@dataclass(frozen=True)
class Scope:
    """What expressions may read. `steps` maps step id -> {"output", "status"}."""

    input: Any
    steps: Mapping[str, Mapping[str, Any]]
    run: Mapping[str, Any]
    config: Any = _ABSENT
    item: Any = _ABSENT
    index: Any = _ABSENT

    def with_item(self, item: Any, index: int) -> Scope:
        return Scope(self.input, self.steps, self.run, self.config, item, index)

    def context_for(self, analysis: Analysis) -> dict[str, Any]:
        """Only the roots (and steps) an expression reads: less data to hand to CEL."""
        ctx: dict[str, Any] = {}
        for root in analysis.roots:
            if root == "steps":
                if analysis.dynamic_steps:
                    ctx["steps"] = dict(self.steps)
                else:
                    ctx["steps"] = {
                        sid: self.steps[sid] for sid, _ in analysis.step_refs if sid in self.steps
                    }
            elif root in SCOPE_ROOTS:
                value = getattr(self, root)
                if value is not _ABSENT:
                    ctx[root] = value
        return ctx


# --------------------------------------------------------------------------------------------
# A definition, compiled


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
    (`engine.definition.validation.validate_definition` returns no problems), else ValueError or
    ExpressionError is raised.
    """

    _cache: OrderedDict[str, CompiledDefinition] = OrderedDict()
    _cache_lock = threading.Lock()
    cache_size = 512

    def __init__(self, data: dict[str, Any], hash_: str | None = None) -> None:
        self.data = data
        self.hash = hash_ or definition_hash(data)
        self.definition = Definition.model_validate(data)
        graph: nx.DiGraph[str] = nx.DiGraph()
        positions = {s.id: i for i, s in enumerate(self.definition.steps)}
        graph.add_nodes_from(positions)
        graph.add_edges_from((need, s.id) for s in self.definition.steps for need in s.needs)
        if not nx.is_directed_acyclic_graph(graph):
            raise ValueError("the steps' needs form a cycle")
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
