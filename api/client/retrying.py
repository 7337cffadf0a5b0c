"""When the client sends a request again, and how long it waits first (tenacity).

A call that may be sent twice without effect (``Call.replayable``: reads, deletes, run starts
with their ``Idempotency-Key``) is retried after any transport error (refused, reset, dropped
before the answer, timed out), a 429 and a 5xx. Any other call only when it surely did not
arrive (the connection could not be made) or was refused unprocessed (429). The wait is
exponential with jitter, at least the answer's ``Retry-After``, and capped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import tenacity

from api.client.calls import Call
from api.client.errors import APIError, RateLimitedError, ServerError

NOT_ARRIVED = (httpx.ConnectError, httpx.ConnectTimeout)
"""Transport errors raised before a byte of the request could have reached the server."""


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` in all (1: never retry); waits from ``initial_wait_s`` up to
    ``max_wait_s`` (a ``Retry-After`` longer than the cap is capped too)."""

    attempts: int = 4
    initial_wait_s: float = 0.25
    max_wait_s: float = 10.0

    def retryable(self, call: Call[Any], exc: BaseException) -> bool:
        if isinstance(exc, RateLimitedError):
            return True
        if isinstance(exc, httpx.TransportError):
            return call.replayable or isinstance(exc, NOT_ARRIVED)
        if isinstance(exc, ServerError):
            return call.replayable and exc.status in (500, 502, 503, 504)
        return False

    def _wait(self, state: tenacity.RetryCallState) -> float:
        backoff = tenacity.wait_exponential_jitter(
            multiplier=self.initial_wait_s, max=self.max_wait_s, jitter=self.initial_wait_s
        )(state)
        exc = state.outcome.exception() if state.outcome is not None else None
        asked = exc.retry_after if isinstance(exc, APIError) else None
        return min(max(backoff, asked or 0.0), self.max_wait_s)

    def _options(self, call: Call[Any]) -> dict[str, Any]:
        return {
            "stop": tenacity.stop_after_attempt(max(1, self.attempts)),
            "wait": self._wait,
            "retry": tenacity.retry_if_exception(lambda e: self.retryable(call, e)),
            "reraise": True,
        }

    def retrying(self, call: Call[Any]) -> tenacity.Retrying:
        return tenacity.Retrying(**self._options(call))

    def async_retrying(self, call: Call[Any]) -> tenacity.AsyncRetrying:
        return tenacity.AsyncRetrying(**self._options(call))


NO_RETRY = RetryPolicy(attempts=1)
