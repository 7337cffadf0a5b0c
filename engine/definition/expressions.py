"""CEL expressions: compile once, find what they read, evaluate against a run's scope.

Sandbox: CEL has no attribute access to host objects, no I/O, no loops other than bounded macros
over finite data; the scope holds plain JSON values only. Cost is bounded statically: an
expression is at most `MAX_EXPRESSION_LENGTH` characters and nests comprehension macros
(`map`, `filter`, `all`, `exists`, `exists_one`) at most `MAX_COMPREHENSION_DEPTH` deep, so an
evaluation is O(len(expr) * size(data) ** depth), with data bounded by the output size limit.
Where an evaluation runs (here, or in the sandbox under a budget) is `engine.definition.budget`'s
call; templates (`${{ }}` in JSON values) are `engine.definition.templates`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cel

from engine.definition import budget
from engine.definition.errors import EvaluationDeferred, ExpressionError, NotJsonError
from engine.definition.sandbox import first_line, plain_json

MAX_EXPRESSION_LENGTH = 4096
MAX_COMPREHENSION_DEPTH = 2
SCOPE_ROOTS = frozenset({"input", "steps", "run", "config", "item", "index"})
STEP_FIELDS = frozenset({"output", "status"})
RUN_FIELDS = frozenset({"id", "started_by", "started_at"})
_MACROS = ("map", "filter", "all", "exists", "exists_one")
_MACRO_CALL = re.compile(r"\.\s*(?:" + "|".join(_MACROS) + r")\s*\(\s*(?:([A-Za-z_]\w*)\s*,)?")
_STEPS_REF = re.compile(r"(?<![\w.])steps\b")
_STEP_FIELD = re.compile(r"\s*\.\s*([A-Za-z_]\w*)(?:\s*\.\s*([A-Za-z_]\w*))?")


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
# Expressions


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
            raise ExpressionError(src, f"does not parse: {first_line(e)}") from None
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
        policy = budget.current_policy()
        if self.is_cheap(ctx):
            if policy is not None and policy.defer_costly:
                policy.cheap_left -= 1
                if policy.cheap_left < 0:
                    raise EvaluationDeferred(self.source)
            return self._evaluate_here(ctx)
        if policy is not None and policy.defer_costly:
            raise EvaluationDeferred(self.source)
        budget.check_estimate(self.source, self.analysis.comprehension_depth, ctx)
        return budget.evaluate_in_sandbox(self.source, ctx, policy)

    def is_cheap(self, ctx: Mapping[str, Any]) -> bool:
        """Whether evaluating here is bounded without a budget (`budget.is_cheap`)."""
        return budget.is_cheap(self.source, self.analysis.comprehension_depth, ctx)

    def _evaluate_here(self, ctx: dict[str, Any]) -> Any:
        try:
            value = self.program.execute(ctx)
        except KeyError as e:
            raise ExpressionError(self.source, f"no such key: {e}") from None
        except Exception as e:  # CEL raises several types; all are evaluation errors here
            raise ExpressionError(self.source, first_line(e)) from None
        return to_json(value, self.source)


def to_json(value: Any, source: str = "") -> Any:
    """Convert a CEL result to plain JSON data; raises ExpressionError for non-JSON values."""
    try:
        return plain_json(value)
    except NotJsonError as e:
        raise ExpressionError(source, str(e)) from None


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
