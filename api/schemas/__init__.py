"""Request and response models: what every model shares (``Strict``); one module per resource."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

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


STORABLE_CHAR = r"[^\x00]"
"""A character the input boundary takes in a string: not NUL. (Lone surrogates are refused too,
but a surrogate range in a pattern is read differently by ECMA-262 without ``u`` and by
schemathesis's generator, which then drew NUL: the descriptions say it instead.)"""


def trimmed_text(min_len: int, max_len: int) -> dict[str, Any]:
    """The JSON Schema of ``domain.kernel.validators.text``: ``min_len``..``max_len`` characters
    once outer whitespace is trimmed, no NUL or lone surrogate (as ``json_schema_extra``:
    documented, while the domain validator stays the one check)."""
    char, edge = STORABLE_CHAR, r"[^\s\x00]"
    body = {0: f"{char}*", 1: f"{char}*{edge}{char}*"}.get(min_len, rf"\s*{edge}{char}*{edge}\s*")
    return {
        "minLength": min_len,
        "maxLength": max_len,
        "pattern": f"^{body}$",
        "description": f"{min_len} to {max_len} characters, outer whitespace trimmed; no NUL.",
    }
