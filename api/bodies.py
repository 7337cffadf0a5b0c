"""Request bodies that may be JSON or YAML (workflow definitions), and problems with pointers."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from api.boundary import (
    MAX_DEPTH,
    NOT_PARSED,
    InputError,
    check_value,
    invalid_input,
    parse_json_off_loop,
    parsed_json_body,
    text_problem,
)
from api.errors import ProblemError
from api.schemas import STORABLE_CHAR, trimmed_text

YAML_TYPES = frozenset({"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"})
M = TypeVar("M", bound=BaseModel)

DEFINITION = "#/components/schemas/WorkflowDefinition"
ANY = "#/components/schemas/JsonValue"


def definition_components() -> dict[str, Any]:
    """OpenAPI components: ``WorkflowDefinition`` (the published JSON Schema, its ``$defs`` as
    ``WorkflowDefinition<Name>``) and the JSON bodies that carry one."""
    from engine.definition.dsl import published_json_schema

    text = json.dumps(published_json_schema())
    text = text.replace('"#/$defs/', '"#/components/schemas/WorkflowDefinition')
    schema = json.loads(text)
    defs = schema.pop("$defs", {})
    schema.pop("$schema", None)
    schema.pop("$id", None)
    components = {f"WorkflowDefinition{name}": d for name, d in defs.items()}
    components["WorkflowDefinition"] = schema
    given = {
        "anyOf": [
            {"$ref": DEFINITION},
            {"type": "string", "description": "The definition as JSON or YAML text."},
        ]
    }
    components["WorkflowCreate"] = {
        "type": "object",
        "title": "WorkflowCreate",
        "additionalProperties": False,
        "required": ["name", "definition"],
        "properties": {"name": {"type": "string", **trimmed_text(2, 255)}, "definition": given},
    }
    components["DefinitionCheck"] = {
        "type": "object",
        "title": "DefinitionCheck",
        "description": "Any definition to check: `validate` answers 200 with its problems.",
        "additionalProperties": False,
        "required": ["definition"],
        "properties": {
            "definition": {
                "anyOf": [
                    {
                        "type": "object",
                        "propertyNames": {"pattern": f"^{STORABLE_CHAR}*$"},
                        "additionalProperties": {"$ref": ANY},
                    },
                    {"type": "string", "description": "The definition as JSON or YAML text."},
                ]
            }
        },
    }
    components["DefinitionSubmit"] = {
        "type": "object",
        "title": "DefinitionSubmit",
        "additionalProperties": False,
        "required": ["definition"],
        "properties": {"definition": given},
    }
    return components


def definition_body(json_body: str, yaml_body: str = DEFINITION) -> dict[str, Any]:
    """``openapi_extra`` of a route whose body ``json_or_yaml`` reads: the JSON body is the
    ``json_body`` component, a YAML body ``yaml_body`` (the definition itself)."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{json_body}"}},
                "application/yaml": {"schema": {"$ref": yaml_body}},
            },
        }
    }


def is_yaml(request: Request) -> bool:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return media in YAML_TYPES


def parse_definition_text(text: str, pointer: str) -> Any:
    """JSON or YAML text → plain JSON data; unparsable text is a 422 at ``pointer``.

    Whatever the loader returns then passes the input boundary's value check (nesting,
    integers, NUL and lone surrogates), like a JSON body does."""
    from engine.definition.dsl import load_definition_text

    if why := text_problem(text):
        raise invalid([(pointer, why)])
    try:
        data = load_definition_text(text)
    except RecursionError:
        raise invalid([(pointer, f"is nested deeper than {MAX_DEPTH} levels")]) from None
    except ValueError as e:
        raise invalid([(pointer, str(e))]) from None
    try:
        check_value(data)
    except InputError as e:
        raise invalid_input(e, pointer) from None
    return data


async def json_or_yaml(request: Request) -> Any:
    """The request body as JSON data: YAML with a YAML content type, JSON otherwise (a JSON
    body the input boundary already parsed and checked is taken as it is, not parsed again)."""
    if not is_yaml(request) and (parsed := parsed_json_body(request.scope)) is not NOT_PARSED:
        return parsed
    raw = await request.body()
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise invalid([("", "the body is not UTF-8 text")]) from None
    if is_yaml(request):
        # off the event loop: a YAML parse is pure Python (bounded, but not free)
        return await run_in_threadpool(parse_definition_text, text, "")
    if not text.strip():
        return None
    try:
        return await parse_json_off_loop(text)
    except InputError as e:
        raise invalid_input(e) from None


def model_from(model: type[M], data: Any) -> M:
    """Validate ``data`` into ``model``; errors are the usual 422 with body pointers."""
    try:
        return model.model_validate(data)
    except PydanticValidationError as e:
        errors = [{**err, "loc": ("body", *err["loc"])} for err in e.errors()]
        raise RequestValidationError(errors) from None


def invalid(problems: list[tuple[str, str]], detail: str | None = None) -> ProblemError:
    """A 422 problem listing ``(pointer, message)`` pairs."""
    return ProblemError(
        422,
        detail or "The request is not valid; see errors.",
        errors=[{"pointer": p, "message": m} for p, m in problems],
    )
