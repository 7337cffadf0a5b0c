"""Templates: JSON values with `${{ expr }}` in their strings, compiled once and rendered.

A string that is exactly `${{ expr }}` becomes the expression's value (any JSON type);
`${{ expr }}` inside a longer string is interpolated as text (strings as they are, other values
as compact JSON). An expression inside a template cannot contain `}}`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from domain.kernel.pointers import escape as _escape
from engine.definition.expressions import Expression, Scope

_TEMPLATE = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)


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
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
