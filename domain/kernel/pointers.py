"""JSON Pointers (RFC 6901): the one escaping of a reference token, used by every layer."""

from __future__ import annotations

from typing import Any


def escape(token: Any) -> str:
    """One reference token: ``~`` → ``~0`` and ``/`` → ``~1`` (in that order)."""
    return str(token).replace("~", "~0").replace("/", "~1")


def join(*tokens: Any) -> str:
    """The pointer of ``tokens`` from the root: ``join("steps", 0, "a/b")`` → ``/steps/0/a~1b``."""
    return "".join("/" + escape(t) for t in tokens)
