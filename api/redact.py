"""Secrets never leave the API: the one rule of ``domain.kernel.secrets`` applied to answers.

Values under secret-like keys are replaced by ``REDACTED`` at any depth, on every response
that carries configuration (tenant config, installations).
"""

from __future__ import annotations

from typing import Any

from domain.kernel.secrets import REDACTED, is_secret_key, redact

__all__ = ["REDACTED", "is_secret_key", "redact", "redact_entry"]


def redact_entry(key: str, value: Any) -> Any:
    """The value of configuration entry ``key``, redacted whole when the key itself is secret."""
    return REDACTED if is_secret_key(key) and value not in (None, "") else redact(value)
