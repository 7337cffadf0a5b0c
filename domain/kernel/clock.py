"""The wall clock of every layer: timezone-aware UTC, never naive local time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """Now, in UTC (applications take a ``Clock`` so tests can pass their own)."""
    return datetime.now(UTC)
