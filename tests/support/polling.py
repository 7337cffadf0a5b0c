"""The tests' one way to wait: poll a condition until it holds or a deadline passes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T],
    timeout: float = 15.0,
    *,
    interval: float = 0.05,
    message: str = "",
) -> T:
    """Call ``predicate`` every ``interval`` seconds until it returns something truthy, and
    return that; raise AssertionError naming ``message`` once ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message or predicate}")
        time.sleep(interval)
