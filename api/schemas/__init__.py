"""Request and response models: what every model shares (``Strict``); one module per resource."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any
from uuid import UUID

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationInfo,
    field_validator,
    model_validator,
)

from api.boundary import InputError, check_value


class Strict(BaseModel):
    """Unknown fields are an error, not silently dropped; what the input boundary refuses
    (NUL, lone surrogates, deep nesting, huge integers) is refused here too, whatever the
    model was validated from (``api/boundary.py``)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        try:
            check_value(data)
        except InputError as e:
            raise ValueError(f"{e.message} (at {e.pointer or '/'})") from None
        return data

    @field_validator("*", mode="before")
    @classmethod
    def _as_documented(cls, value: Any, info: ValidationInfo) -> Any:
        """The value as sent must match its field's JSON Schema, the one the OpenAPI document
        shows: pydantic alone would coerce ``0`` to ``false`` or ``"5"`` to ``5``, and leaves the
        documented-only constraints (``trimmed_text``'s pattern, a password's ``minLength``) to
        checks that run after ``If-Match`` or a lookup. Refused here, bad input is a 422 before
        any precondition is looked at."""
        check = _field_checks(cls).get(info.field_name or "")
        if check is not None and (error := best_match(check.iter_errors(_as_sent(value)))):
            raise ValueError(_described(error))
        return value


def _as_sent(value: Any) -> Any:
    """A value the server built (the console's forms parse ids and times first) as JSON would
    carry it; what came as JSON is itself already."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_as_sent(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_sent(v) for k, v in value.items()}
    return value


_CHECKS: dict[type, dict[str, Draft202012Validator]] = {}
_ANNOTATIONS = frozenset({"title", "description", "default", "examples", "deprecated"})
"""JSON Schema keywords that assert nothing (a field of any JSON value, e.g. a run's input)."""


def _field_checks(model: type[BaseModel]) -> dict[str, Draft202012Validator]:
    """Each field's JSON Schema as a validator (fields holding another model are left to that
    model's own check; formats are not asserted: the field's type parses them)."""
    checks = _CHECKS.get(model)
    if checks is None:
        properties = model.model_json_schema().get("properties", {})
        checks = {
            name: Draft202012Validator(schema)
            for name, field in model.model_fields.items()
            if (schema := properties.get(field.alias or name)) is not None
            and "$ref" not in repr(schema)
            and not schema.keys() <= _ANNOTATIONS  # a schema that asserts nothing checks nothing
        }
        _CHECKS[model] = checks
    return checks


_SAID = {
    "type": "must be {}",
    "minLength": "must be at least {} characters",
    "maxLength": "must be at most {} characters",
    "minItems": "must have at least {} items",
    "maxItems": "must have at most {} items",
    "minimum": "must be at least {}",
    "maximum": "must be at most {}",
    "enum": "must be one of {}",
    "const": "must be {}",
    "pattern": "does not have the documented form",
}


def _described(error: Any) -> str:
    """What is wrong, never the value itself (it may be a password)."""
    where = "".join(f"/{p}" for p in error.absolute_path)
    said = _SAID.get(str(error.validator), "does not match its schema ({})")
    arg = error.validator_value if error.validator in _SAID else error.validator
    if error.validator == "type" and isinstance(arg, list):
        arg = " or ".join(arg)
    message = said.format(arg)
    return f"{message} (at {where})" if where else message


STORABLE_CHAR = r"[^\x00]"
"""A character the input boundary takes in a string: not NUL. (Lone surrogates are refused too,
but a surrogate range in a pattern is read differently by ECMA-262 without ``u`` and by
schemathesis's generator, which then drew NUL: the descriptions say it instead.)"""


SPACE = r"[\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
"""What ``str.strip()`` trims (``str.isspace``), spelled out: ECMA-262's backslash-s is another
set (it lacks U+001C to U+001F and U+0085, has U+FEFF), so a pattern using it would call valid a
name the domain then finds too short."""


def trimmed_text(min_len: int, max_len: int) -> dict[str, Any]:
    """The JSON Schema of ``domain.kernel.validators.text``: ``min_len``..``max_len`` characters
    once outer whitespace is trimmed, no NUL or lone surrogate (as ``json_schema_extra``: the
    document shows it, ``Strict`` checks it, and the domain validator checks it again)."""
    char, edge = STORABLE_CHAR, rf"[^{SPACE[1:-1]}\x00]"
    body = {0: f"{char}*", 1: f"{char}*{edge}{char}*"}.get(
        min_len, rf"{SPACE}*{edge}{char}*{edge}{SPACE}*"
    )
    return {
        "minLength": min_len,
        "maxLength": max_len,
        "pattern": f"^{body}$",
        "description": f"{min_len} to {max_len} characters, outer whitespace trimmed; no NUL.",
    }


_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:([0-9]{2})(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def rfc3339(value: Any) -> Any:
    """An RFC 3339 time with its offset, as ``format: date-time`` says; pydantic alone would also
    take ``0.5`` (seconds since 1970), a date or a time without offset. A leap second reads as
    the last microsecond before it."""
    if isinstance(value, datetime):
        return value
    match = _RFC3339.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError("must be an RFC 3339 time with an offset, e.g. 2026-01-31T09:00:00Z")
    text = value.upper()
    if match.group(1) == "60":
        seconds_end = match.end(2) if match.group(2) else match.end(1)
        text = f"{text[: match.start(1)]}59.999999{text[seconds_end:]}"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("must be an RFC 3339 time with an offset (no such date)") from None


Rfc3339 = Annotated[datetime, BeforeValidator(rfc3339)]
"""A ``datetime`` parameter or field that takes exactly ``format: date-time``."""
