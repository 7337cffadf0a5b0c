"""JSON for the read model and the audit log: domain values in, PostgreSQL-safe text out."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

# jsonb rejects the escaped NUL character; replace it where it is an escape, not an escaped
# backslash followed by "u0000".
_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID | Decimal):
        return str(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset | tuple):
        return sorted(value, key=str) if isinstance(value, set | frozenset) else list(value)
    if isinstance(value, bytes):
        return value.hex()
    return repr(value)


def dumps(value: Any) -> str:
    """Compact JSON that jsonb accepts: no NaN/Infinity (-> null), no NUL character."""
    try:
        text = json.dumps(
            value, default=_default, ensure_ascii=False, separators=(",", ":"), allow_nan=False
        )
    except ValueError:
        text = json.dumps(
            _finite(value), default=_default, ensure_ascii=False, separators=(",", ":")
        )
    # the regex only when there is an escaped NUL to look at (rare): dumps is on the hot path
    return _NUL.sub(r"\1\\ufffd", text) if "\\u0000" in text else text


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def jsonb(value: Any) -> Jsonb | None:
    """A jsonb parameter (None stays SQL NULL)."""
    return None if value is None else Jsonb(value, dumps=dumps)


def text(value: Any) -> str | None:
    """A text parameter without NUL characters (PostgreSQL text cannot hold them)."""
    if value is None:
        return None
    return str(value).replace("\x00", "\ufffd")
