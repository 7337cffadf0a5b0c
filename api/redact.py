"""Secrets in tenant configuration never leave the API: values under secret-like keys are
replaced by ``REDACTED`` at any depth, on every response that carries configuration.

Which keys are secret is decided in one place, ``engine.delivery.config.is_secret_key``.
"""

from __future__ import annotations

from typing import Any

from engine.delivery.config import REDACTED, is_secret_key

__all__ = ["REDACTED", "is_secret_key", "redact", "redact_entry"]


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
