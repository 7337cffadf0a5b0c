"""Secrets never leave the API: the one rule of ``domain.kernel.secrets`` applied to answers.

Values under secret-like keys are replaced by ``REDACTED`` at any depth, on every response
that carries configuration (tenant config, installations); the rule itself is the kernel's.
"""

from __future__ import annotations

from typing import Any

from domain.kernel.secrets import REDACTED, redact

__all__ = ["REDACTED", "redact", "redact_entry"]


def redact_entry(key: str, value: Any) -> Any:
    """The value of configuration entry ``key`` as the API shows it: rule 2 of the kernel (a
    ``{"key": k, "value": v}`` pair hides ``v`` whole when ``k`` names a credential)."""
    return redact({"key": key, "value": value})["value"]
