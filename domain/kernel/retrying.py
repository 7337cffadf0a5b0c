"""In-process retries of the background loops (engine and projections): tenacity, ended by the
loop's stop event.

For a loop that waits for the database to come back, or restarts a round that failed: waits
grow exponentially to a cap, each failed attempt is told to ``on_retry`` (which logs it and drops
what the failure spoiled, e.g. a connection), and the loop's stop event both ends the retries and
cuts a wait short, so a shutdown is never held up by a back-off. Once stopped, the retrying
returns None instead of raising. Durable retries (a step's back-off, a notification's
redelivery) are not these: they are rows with a ``not_before`` (docs/decisions.md).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    wait_exponential,
)
from tenacity.stop import stop_base

ASYNC_WAKE_S = 0.05
"""How often an asyncio wait looks at the (thread) stop event."""


class stop_when_set(stop_base):  # noqa: N801 - named like tenacity's own stop conditions
    """Stop retrying once ``event`` is set: the loop is shutting down."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, _retry_state: RetryCallState) -> bool:
        return self.event.is_set()


def _stopped(_retry_state: RetryCallState) -> None:
    return None


def _policy(
    stop: threading.Event, first_s: float, max_s: float, on_retry: Callable[[RetryCallState], Any]
) -> dict[str, Any]:
    """What the sync and the asyncio retrying share (all but how they sleep)."""
    return {
        "retry": retry_if_exception_type(Exception),
        "wait": wait_exponential(multiplier=first_s, max=max_s),
        "stop": stop_when_set(stop),
        "before_sleep": on_retry,
        "retry_error_callback": _stopped,
    }


def until_stopped(
    stop: threading.Event,
    *,
    first_s: float,
    max_s: float,
    on_retry: Callable[[RetryCallState], Any],
) -> Retrying:
    """Retry any ``Exception`` (never a ``BaseException``) until ``stop``, waiting ``first_s``,
    twice that, ... at most ``max_s``; the waits are ``stop.wait``, which a stop cuts short."""

    def nap(seconds: float) -> None:
        stop.wait(seconds)

    return Retrying(sleep=nap, **_policy(stop, first_s, max_s, on_retry))


def until_stopped_async(
    stop: threading.Event,
    *,
    first_s: float,
    max_s: float,
    on_retry: Callable[[RetryCallState], Any],
) -> AsyncRetrying:
    """`until_stopped` for a coroutine on an event loop (``on_retry`` may be async); the stop
    event is a thread's, so a wait looks at it every ``ASYNC_WAKE_S``."""

    async def nap(seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
            await asyncio.sleep(min(left, ASYNC_WAKE_S))

    return AsyncRetrying(sleep=nap, **_policy(stop, first_s, max_s, on_retry))


def failure(retry_state: RetryCallState) -> BaseException:
    """The exception of the attempt that just failed (in an ``on_retry``)."""
    assert retry_state.outcome is not None
    exc = retry_state.outcome.exception()
    assert exc is not None
    return exc
