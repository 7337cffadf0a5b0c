"""The OpenAPI document says what the API really answers on errors: problem+json.

FastAPI documents a 422 ``HTTPValidationError`` (``{detail: [...]}``) that this API never
sends; every operation instead gets a ``4XX``/``5XX`` problem+json response (RFC 9457), and the
validation 422 lists ``errors[]`` of ``{pointer, message}``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api.errors import MEDIA_TYPE

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
    """Replace ``app.openapi`` with a generator that documents problem+json errors."""

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
