"""Static types of expressions, checked at submit time by CEL's reference type checker.

The runtime evaluates with `common-expression-language` (cel-rust), which has no type checker;
checking uses Google's `cel-expr-python` (the cel-cpp checker), for checking only. What is known
is declared, the rest is `dyn`:

- `steps.<id>.status` is a string, `steps.<id>.output` is `dyn`;
- `run.id`, `run.started_by`, `run.started_at` are strings;
- `index` is an int, `item` and `config` are `dyn`;
- `input` is typed by `input_schema` where it is typed: `string`, `integer`, `boolean`, arrays of
  those and objects whose properties are typed the same way (`number` stays `dyn`: a JSON number
  arrives as an int or a double).

cel-rust is more lenient than the checker in three places, and a definition that runs must not
be refused: `==`/`!=` between any two types (heterogeneous equality), `<`, `<=`, `>`, `>=`
across int, uint and double, and `c ? a : b` with branches of different types. Those checker
errors are dropped. An expression that uses `has(...)` is checked without the per-field
declarations (the checker would give `has(input.a)` the type of `input.a`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from cel_expr_python import cel
from cel_expr_python.ext import ext_optional

from engine.definition.expressions import RUN_FIELDS, blank_strings

T = cel.Type
MAX_INPUT_DECLARATIONS = 256
MAX_INPUT_DEPTH = 6
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RESERVED = frozenset(  # CEL's reserved words: never selectable as a field name
    {"as", "break", "const", "continue", "else", "false", "for", "function", "if", "import",
     "in", "let", "loop", "package", "namespace", "null", "return", "true", "var", "void",
     "while"}
)  # fmt: skip
_HAS = re.compile(r"(?<![\w.])has\s*\(")
_ERROR = re.compile(r"ERROR: <input>:(\d+):(\d+): ([^\n]*)")
_OVERLOAD = re.compile(r"found no matching overload for '([^']+)' applied to '\((.*)\)'$")
_NUMBER = r"(?:int|uint|double)"
_LENIENT = (
    re.compile(r"found no matching overload for '(?:_==_|_!=_|_\?_:_)'"),
    re.compile(
        rf"found no matching overload for '_(?:<|<=|>|>=)_' applied to '\({_NUMBER}, {_NUMBER}\)'"
    ),
)
_OPERATORS = {"_[_]": "[]", "@in": "in", "_?_:_": "? :", "!_": "!", "-_": "unary -"}


class TypeChecker:
    """The declarations of one definition; `problems(source, want)` type-checks an expression."""

    def __init__(self, step_ids: Iterable[str], input_schema: Any) -> None:
        coarse: dict[str, Any] = {
            "input": _schema_type(input_schema),
            "steps": T.Map(T.STRING, T.DYN),
            "run": T.Map(T.STRING, T.STRING),
            "config": T.DYN,
            "item": T.DYN,
            "index": T.INT,
        }
        precise = dict(coarse)
        for sid in step_ids:
            precise[f"steps.{sid}.status"] = T.STRING
            precise[f"steps.{sid}.output"] = T.DYN
        for name in RUN_FIELDS:
            precise[f"run.{name}"] = T.STRING
        _declare_properties(precise, "input", input_schema, MAX_INPUT_DEPTH)
        self._precise = _env(precise)
        self._coarse = _env(coarse)

    def problems(self, source: str, want: str | None = None) -> list[str]:
        """What is wrong with the types of `source` (an expression that parses); `want` is
        `"bool"` or `"list"` where the value must be one."""
        env = self._coarse if _HAS.search(blank_strings(source)) else self._precise
        try:
            given = env.compile(source).return_type().name()
        except Exception as e:  # the binding raises RuntimeError; any failure is the checker's
            return _errors(str(e))
        if want == "bool" and given not in ("BOOL", "DYN"):
            return [f"must give a bool, but gives {_type_name(given)}"]
        if want == "list" and given != "DYN" and not given.startswith("LIST"):
            return [f"must give a list, but gives {_type_name(given)}"]
        return []


def _env(variables: dict[str, Any]) -> Any:
    return cel.NewEnv(variables=variables, extensions=[ext_optional.ExtOptional()])


def _schema_type(schema: Any) -> Any:
    if not isinstance(schema, dict):
        return T.DYN
    kind = schema.get("type")
    if kind == "string":
        return T.STRING
    if kind == "integer":
        return T.INT
    if kind == "boolean":
        return T.BOOL
    if kind == "array":
        return T.List(_schema_type(schema.get("items")))
    if kind == "object":
        return T.Map(T.STRING, T.DYN)
    return T.DYN


def _declare_properties(decls: dict[str, Any], prefix: str, schema: Any, depth: int) -> None:
    """`input.<a>[.<b>...]` for typed object properties (names CEL can select)."""
    if depth <= 0 or not isinstance(schema, dict) or schema.get("type") != "object":
        return
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return
    for name, sub in properties.items():
        if len(decls) >= MAX_INPUT_DECLARATIONS:
            return
        if not isinstance(name, str) or not _IDENT.match(name) or name in _RESERVED:
            continue
        decls[f"{prefix}.{name}"] = _schema_type(sub)
        _declare_properties(decls, f"{prefix}.{name}", sub, depth - 1)


def _errors(text: str) -> list[str]:
    found = []
    for _line, column, message in _ERROR.findall(text):
        if message.startswith("Syntax error") or any(p.search(message) for p in _LENIENT):
            continue  # the runtime's parser is the judge of syntax; see the module docstring
        found.append(f"{_readable(message)} (at column {column})")
    return found


def _readable(message: str) -> str:
    m = _OVERLOAD.match(message)
    if m is None:
        return message
    name = m.group(1)
    op = _OPERATORS.get(name, name.strip("_") if name.startswith("_") else name)
    return f"'{op}' is not defined for ({m.group(2)})"


def _type_name(cel_name: str) -> str:
    return "null" if cel_name == "NULL" else cel_name.lower().replace("_type", "")
