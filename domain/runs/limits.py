"""What a run may store: JSON data within a size limit, text that PostgreSQL's jsonb can hold."""

from __future__ import annotations

import json
import re
from typing import Any

from domain.kernel import validators as v

MAX_OUTPUT_BYTES = 256 * 1024
"""Largest step input, step output or run output, as compact UTF-8 JSON."""


def json_size(value: Any) -> int:
    """Bytes of `value` as compact UTF-8 JSON; raises ValueError if it is not JSON data."""
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"not JSON data: {e}") from None
    return len(text.encode())


_UNSTORABLE_CHAR = re.compile("[\x00\ud800-\udfff]")


def storable_text(text: str) -> str:
    """``text`` with NUL and lone surrogates (which no event store or jsonb can hold) replaced
    by U+FFFD: for messages that come from outside (a target's error), kept rather than refused."""
    return _UNSTORABLE_CHAR.sub("\ufffd", text)


def unstorable(value: Any, what: str) -> tuple[str, str] | None:
    """(``invalid_output``, message naming the JSON Pointer) if `value` holds NUL or a lone
    surrogate; cheap when it holds none (one compact dump, scanned at C speed)."""
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        text.encode()
        if "\\u0000" not in text:
            return None
    except (TypeError, ValueError):
        pass  # a lone surrogate fails the encode; non-JSON data is _too_large's to report
    problem = v.unstorable(value)
    if problem is None:
        return None
    pointer, why = problem
    where = f"at {pointer!r}" if pointer else "(the whole value)"
    return "invalid_output", f"{what} cannot be stored: the value {where} {why}"


def too_large(value: Any, what: str) -> tuple[str, str] | None:
    """(error kind, message) if `value` is not JSON, holds text PostgreSQL's jsonb cannot store
    (NUL, a lone surrogate) or is larger than the limit, else None."""
    if (problem := unstorable(value, what)) is not None:
        return problem
    try:
        size = json_size(value)
    except ValueError as e:
        return "invalid_output", f"{what} is {e}"
    if size > MAX_OUTPUT_BYTES:
        return (
            f"{what.split()[-1]}_too_large",
            f"{what} is {size:,} bytes of JSON; the limit is {MAX_OUTPUT_BYTES:,} bytes",
        )
    return None


_TRACEPARENT = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")


def is_traceparent(value: Any) -> bool:
    """Whether ``value`` has the form of a W3C Trace Context ``traceparent`` header (what a
    run records of the trace that started it; its meaning is the tracer's business)."""
    return isinstance(value, str) and _TRACEPARENT.fullmatch(value) is not None
