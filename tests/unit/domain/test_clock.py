"""The wall clock: timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, timedelta

from domain.kernel.clock import utc_now


def test_the_clock_is_timezone_aware_utc() -> None:
    now = utc_now()
    assert now.tzinfo is UTC
    assert now.utcoffset() == timedelta(0)
