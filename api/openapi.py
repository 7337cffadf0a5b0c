"""The OpenAPI document tells the truth: errors, credentials, bodies and input constraints.

- Errors: FastAPI documents a 422 ``HTTPValidationError`` (``{detail: [...]}``) that this API
  never sends; every operation instead gets a ``4XX``/``5XX`` problem+json response (RFC 9457),
  and the validation 422 lists ``errors[]`` of ``{pointer, message}``.
- ``If-Match`` is required where the write answers 428 without it.
- Credentials: one HTTP ``bearer`` scheme (a session token, an API key's secret or the platform
  admin token), on every operation whose route authenticates, so Swagger UI's Authorize works.
- Bodies read by ``api.bodies.json_or_yaml`` get the real workflow definition JSON Schema
  (``engine/definition/schema/``) for JSON and YAML, not ``{"type": "object"}``.
- The input boundary refuses NUL in every string (``api/boundary.py``): every request string
  without a stricter pattern or a format carries ``NO_NUL``; a parameter is a string or absent,
  never ``null``.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts

from api.auth import authenticate
from api.bodies import definition_components
from api.errors import MEDIA_TYPE
from api.etag import required_if_match
from api.permission_matrix import signature_credential
from api.schemas import STORABLE_CHAR

BEARER = "bearer"
HOOK_SIGNATURE = "hookSignature"
SECURITY_SCHEMES: dict[str, Any] = {
    HOOK_SIGNATURE: {
        "type": "apiKey",
        "in": "header",
        "name": "X-Platinum-Signature",
        "description": (
            "A webhook delivery's `sha256=<hex HMAC-SHA256(secret, timestamp + \".\" + body)>`,"
            " with `X-Platinum-Timestamp` and `X-Platinum-Delivery` (docs/api.md)."
        ),
    },
    BEARER: {
        "type": "http",
        "scheme": "bearer",
        "description": (
            "A login session's token (`POST /v1/auth/login`), an API key's secret, or the"
            " platform admin token (`platinum admin-token`)."
        ),
    }
}
NO_NUL = f"^{STORABLE_CHAR}*$"
"""The pattern of a request string: no NUL (PostgreSQL text cannot hold one)."""
_NEGATED = re.compile(r"(?<!\\)\[\^")
_REFUSED = STORABLE_CHAR[2:-1]  # what a storable character is not
JSON_VALUE = "#/components/schemas/JsonValue"
_ANY = {"$ref": JSON_VALUE}
JSON_VALUE_SCHEMA: dict[str, Any] = {
    "title": "JsonValue",
    "description": (
        "Any JSON value the input boundary takes: no NUL in a string or a key, integers within"
        " 64 bits, at most 64 levels deep (api/boundary.py)."
    ),
    "anyOf": [
        {"type": "string", "pattern": NO_NUL},
        {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1},
        {"type": "number", "not": {"type": "integer"}},
        {"type": "boolean"},
        {"type": "null"},
        {"type": "array", "items": _ANY},
        {"type": "object", "propertyNames": {"pattern": NO_NUL}, "additionalProperties": _ANY},
    ],
}

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Problem",
    "description": "RFC 9457 problem details.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["pointer", "message"],
                "properties": {"pointer": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}
_REF = {"$ref": "#/components/schemas/Problem"}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {MEDIA_TYPE: {"schema": _REF}}}


def install(app: FastAPI) -> None:
    """Replace ``app.openapi`` with a generator that adds what the module doc lists."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        schemas["Problem"] = PROBLEM_SCHEMA
        schemas.update(definition_components())
        schemas["JsonValue"] = JSON_VALUE_SCHEMA
        doc["components"]["securitySchemes"] = SECURITY_SCHEMES
        _secure(app, doc)
        _require_if_match(app, doc)
        _forbid_nul(doc)
        for item in doc.get("paths", {}).values():
            for operation in item.values():
                responses = operation.setdefault("responses", {})
                if "422" in responses:
                    responses["422"] = _problem("Invalid input (errors[] lists each problem).")
                for code, response in responses.items():
                    if code.startswith(("4", "5")) and "content" in response:
                        response["content"] = {MEDIA_TYPE: {"schema": _REF}}
                responses.setdefault("4XX", _problem("Client error."))
                responses.setdefault("5XX", _problem("Server error."))
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]


def _authenticates(dependant: Dependant) -> bool:
    return any(dep.call is authenticate or _authenticates(dep) for dep in dependant.dependencies)


def _signed(dependant: Dependant) -> bool:
    return any(dep.call is signature_credential for dep in dependant.dependencies)


def _secure(app: FastAPI, doc: dict[str, Any]) -> None:
    """``security: [{bearer: []}]`` on the operations whose route authenticates its caller,
    ``[{hookSignature: []}]`` on a webhook delivery (its signature is its credential)."""
    for route in iter_route_contexts(app.routes):  # included routers' routes, prefixed
        if not isinstance(route.original_route, APIRoute):
            continue
        if _authenticates(route.dependant):
            scheme = BEARER
        elif _signed(route.dependant):
            scheme = HOOK_SIGNATURE
        else:
            continue
        item = doc.get("paths", {}).get(route.path_format or "", {})
        for method in route.methods or ():
            if (operation := item.get(method.lower())) is not None:
                operation["security"] = [{scheme: []}]


def _needs_if_match(dependant: Dependant) -> bool:
    return any(
        dep.call is required_if_match or _needs_if_match(dep) for dep in dependant.dependencies
    )


def _require_if_match(app: FastAPI, doc: dict[str, Any]) -> None:
    """``If-Match`` is ``required`` where the write refuses to run blind (``RequiredIfMatchDep``:
    428 without it); FastAPI declares it optional, its Python default being None."""
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute) or not _needs_if_match(route.dependant):
            continue
        item = doc.get("paths", {}).get(route.path_format or "", {})
        for method in route.methods or ():
            for parameter in item.get(method.lower(), {}).get("parameters", []):
                if parameter.get("in") == "header" and parameter.get("name") == "if-match":
                    parameter["required"] = True
                    parameter["description"] = (
                        parameter.get("description", "") + " Required: 428 without it."
                    ).strip()


def _free(schema: Any) -> bool:
    """Whether ``schema`` says nothing of its value (pydantic's ``Any``: maybe a description)."""
    return isinstance(schema, dict) and not {
        "type", "$ref", "anyOf", "oneOf", "allOf", "enum", "const"
    } & set(schema)  # fmt: skip


def _no_nul(schema: Any, schemas: dict[str, Any], seen: set[str]) -> None:
    """Add ``NO_NUL`` to every plain string inside ``schema`` (following ``$ref``s once)."""
    if not isinstance(schema, dict):
        return
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        name = ref.rsplit("/", 1)[1]
        if name not in seen and name in schemas:
            seen.add(name)
            _no_nul(schemas[name], schemas, seen)
    if schema.get("type") == "string" and not {"pattern", "format", "enum", "const"} & set(schema):
        schema["pattern"] = NO_NUL
    elif schema.get("type") == "string" and _REFUSED not in schema.get("pattern", _REFUSED):
        # a negated class may let one in: it refuses them too (``[^\s@]`` → ``[^\x00...\s@]``)
        schema["pattern"] = _NEGATED.sub(lambda _m: "[^" + _REFUSED, schema["pattern"])
    if schema.get("type") == "object" and schema.get("additionalProperties", True) is True:
        schema["additionalProperties"] = _ANY  # free-form: the boundary's rules all the way down
        schema.setdefault("propertyNames", {"pattern": NO_NUL})
    for key, value in schema.get("properties", {}).items():
        if _free(value):
            schema["properties"][key] = {**value, **_ANY}
    children: list[Any] = [schema.get("items"), schema.get("additionalProperties")]
    children += schema.get("prefixItems", []) + schema.get("anyOf", [])
    children += schema.get("oneOf", []) + schema.get("allOf", [])
    children += list(schema.get("properties", {}).values())
    for child in children:
        _no_nul(child, schemas, seen)


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A parameter's schema without FastAPI's ``{"type": "null"}`` branch of an optional value:
    a query string or a header is absent or a string, never JSON ``null``."""
    branches = [b for b in schema.get("anyOf", []) if b != {"type": "null"}]
    if len(branches) != 1 or len(schema.get("anyOf", [])) != 2:
        return schema
    rest = {k: v for k, v in schema.items() if k != "anyOf"}
    return {**branches[0], **rest}


def _forbid_nul(doc: dict[str, Any]) -> None:
    """``NO_NUL`` on the strings of every parameter and request body (what is sent)."""
    schemas = doc.get("components", {}).get("schemas", {})
    seen: set[str] = set()
    for item in doc.get("paths", {}).values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                parameter["schema"] = _without_null(parameter.get("schema", {}))
                _no_nul(parameter["schema"], schemas, seen)
            for media in operation.get("requestBody", {}).get("content", {}).values():
                _no_nul(media.get("schema"), schemas, seen)
