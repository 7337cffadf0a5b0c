"""Bounded evaluation: which expressions run in-process, and the sandbox budgets of the rest.

An expression is cheap (`is_cheap`) when it has no comprehension macro, is short and reads
little data: it runs in-process. Any other runs in the sandbox (`engine.definition.sandbox`)
under its time and memory budgets, or, on the request path, is deferred to a worker
(`EvaluationDeferred`). See docs/security.md, Bounded evaluation.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from engine.definition.errors import ExpressionError, SandboxError
from engine.definition.sandbox import Limits, Sandbox

CHEAP_EXPRESSION_LENGTH = 256
CHEAP_DATA_BYTES = 64 * 1024
MACRO_STEPS_PER_S = 3.0e7
"""Comprehension steps (n**2 for one macro over n items) the CEL binding does per CPU second."""
REQUEST_EVALUATIONS = 1000
"""Cheap evaluations one advance on the request path may make before it is deferred."""


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


def current_policy() -> EvaluationPolicy | None:
    """The policy of the pass evaluating now (None outside `evaluation_policy`)."""
    return _policy.get()


def is_cheap(source: str, comprehension_depth: int, ctx: Mapping[str, Any]) -> bool:
    """Whether evaluating here is bounded without a budget: no comprehension macro, at most
    `CHEAP_EXPRESSION_LENGTH` characters, and at most `CHEAP_DATA_BYTES` of data read (so
    at most a few milliseconds and megabytes, whatever the expression does)."""
    return (
        comprehension_depth == 0
        and len(source) <= CHEAP_EXPRESSION_LENGTH
        and _size_at_most(ctx, CHEAP_DATA_BYTES)
    )


def check_estimate(source: str, depth: int, ctx: Mapping[str, Any]) -> None:
    """Fail fast, without spending the budget, when the comprehensions' cost is plainly over
    it: the binding's macros cost about n**2 for a list of n (measured: 0.1 s at 2,000
    items, 11 s at 20,000), so `depth` nested macros over lists of at most n items cost
    about n ** (depth + 1). The sandbox stays the bound; this saves burning it."""
    if depth == 0:
        return
    n = _largest_collection(ctx)
    estimate = n ** (depth + 1) / MACRO_STEPS_PER_S
    if estimate > _Config.limits.timeout_s:
        raise ExpressionError(
            source,
            f"would take about {estimate:,.0f}s of CPU ({depth} nested comprehensions over "
            f"up to {n:,} items); the time budget is {_Config.limits.timeout_s:g}s",
        )


def _sandbox() -> Sandbox:
    with _Config.lock:
        if _Config.sandbox is None:
            _Config.sandbox = Sandbox(_Config.limits)
        return _Config.sandbox


def evaluate_in_sandbox(source: str, ctx: dict[str, Any], policy: EvaluationPolicy | None) -> Any:
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
