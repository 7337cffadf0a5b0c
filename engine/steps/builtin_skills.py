"""Skills shipped with Platinum (entry-point group ``platinum.skills``)."""

from __future__ import annotations

from typing import Any


def echo(input: Any, config: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """Returns what it was given: the input, its installation's config and the call context."""
    return {"input": input, "config": config, "context": context}
