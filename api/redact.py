"""Secrets in tenant configuration never leave the API: values under secret-like keys are
replaced by ``REDACTED`` at any depth, on every response that carries configuration."""

from __future__ import annotations

import re
from typing import Any

REDACTED = "[redacted]"
SECRET_KEY = re.compile(
    r"pass(word|wd|phrase)?|secret|token|api[-_.]?key|private[-_.]?key|credential|signing[-_.]?key",
    re.IGNORECASE,
)


def is_secret_key(key: str) -> bool:
    return SECRET_KEY.search(key) is not None


def redact(value: Any) -> Any:
    """A copy of a JSON value with every secret-keyed member's value redacted."""
    if isinstance(value, dict):
        return {k: REDACTED if is_secret_key(str(k)) else redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def redact_entry(key: str, value: Any) -> Any:
    """The value of configuration entry ``key``, redacted whole when the key itself is secret."""
    return REDACTED if is_secret_key(key) else redact(value)
