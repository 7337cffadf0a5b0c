"""The tests' one way to wait: poll a condition until it holds or a deadline passes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    probe: Callable[[], T],
    timeout: float = 15.0,
    *,
    until: Callable[[T], object] = bool,
    interval: float = 0.05,
    message: str = "",
) -> T:
    """Call ``probe`` every ``interval`` seconds until ``until(value)`` holds (by default: the
    value is truthy), and return that value; once ``timeout`` seconds have passed, raise
    AssertionError naming ``message`` and the last value seen.

    A probe may raise to mean "not yet" only by catching that itself and returning a falsy
    value: exceptions propagate, so a broken probe fails at once instead of at the deadline.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if until(value):
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout} s waiting for {message or probe}; last seen: {value!r}"
            )
        time.sleep(interval)
