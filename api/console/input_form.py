"""A run's input form built from a workflow's ``input_schema``, and the posted form read
back as the run's input (pure).

A schema the form can show (an object whose properties are strings, numbers, integers,
booleans or enums; anything else is a JSON field) becomes one field per property; any other
schema, or none, is one JSON textarea. The run start still validates the input against the
schema: the form only shapes it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from api.boundary import InputError, parse_json

JSON_FIELD = "__json__"
"""The name of the single JSON textarea (when the schema has no form)."""
PREFIX = "in."
"""Form field names are ``in.<property>`` (so they cannot clash with ``csrf_token``)."""


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # "text", "integer", "number", "boolean", "select" or "json"
    required: bool
    description: str = ""
    options: list[str] = field(default_factory=list)
    default: str = ""

    @property
    def form_name(self) -> str:
        return PREFIX + self.name


def _kind(prop: Mapping[str, Any]) -> str:
    if isinstance(prop.get("enum"), list) and all(isinstance(o, str) for o in prop["enum"]):
        return "select"
    kind = prop.get("type")
    return {"string": "text", "integer": "integer", "number": "number",
            "boolean": "boolean"}.get(kind if isinstance(kind, str) else "", "json")  # fmt: skip


def _default(prop: Mapping[str, Any], kind: str) -> str:
    if "default" not in prop:
        return ""
    value = prop["default"]
    if kind == "json":
        return json.dumps(value)
    if kind == "boolean":
        return "on" if value is True else ""
    return str(value)


def fields_for(schema: Any) -> list[Field] | None:
    """The form's fields, in the schema's order; None when the schema has no form shape."""
    if not isinstance(schema, Mapping) or schema.get("type") != "object":
        return None
    props = schema.get("properties")
    if not isinstance(props, Mapping) or not props:
        return None
    required = schema.get("required")
    needed = set(required) if isinstance(required, list) else set()
    out = []
    for name, prop in props.items():
        if not isinstance(prop, Mapping):
            return None
        kind = _kind(prop)
        out.append(Field(
            name=str(name), kind=kind, required=name in needed,
            description=str(prop.get("description") or prop.get("title") or ""),
            options=[str(o) for o in prop["enum"]] if kind == "select" else [],
            default=_default(prop, kind),
        ))  # fmt: skip
    return out


def _value(f: Field, raw: str) -> Any:
    if f.kind == "integer":
        return int(raw)
    if f.kind == "number":
        number = float(raw)
        return int(number) if number.is_integer() and "." not in raw else number
    if f.kind == "json":
        return parse_json(raw)
    return raw


_NOT = {"integer": "is not an integer", "number": "is not a number", "json": "is not JSON"}


def read_input(
    fields: list[Field] | None, form: Mapping[str, str]
) -> tuple[Any, list[tuple[str, str]]]:
    """The run's input from the posted form, and ``(field, message)`` for what could not be
    read. Empty optional fields are left out; an unchecked box is ``false``."""
    if fields is None:
        raw = form.get(JSON_FIELD, "").strip()
        if not raw:
            return None, []
        try:
            return parse_json(raw), []
        except InputError as e:
            return None, [(JSON_FIELD, e.message)]
    value: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    for f in fields:
        if f.kind == "boolean":
            value[f.name] = form.get(f.form_name) == "on"
            continue
        raw = form.get(f.form_name, "").strip()
        if not raw:
            if f.required:
                problems.append((f.name, "is required"))
            continue
        try:
            value[f.name] = _value(f, raw)
        except ValueError:
            problems.append((f.name, _NOT[f.kind]))
    return value, problems


def json_text(text: str, pointer: str) -> Any:
    """A form's JSON textarea as a value (empty: None); one that does not parse is a 422
    naming ``pointer``, as the JSON API's body would be."""
    from api.errors import ProblemError

    if not text.strip():
        return None
    try:
        return parse_json(text)
    except InputError as e:
        problem = [{"pointer": pointer, "message": e.message}]
        raise ProblemError(422, "The form's JSON does not parse.", errors=problem) from None
