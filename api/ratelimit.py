"""Login throttling: failed attempts per account and per client address, in a sliding window.

In-process memory: each API process counts on its own, so N processes allow up to N times the
limits (acceptable for brute-force damping; a shared store is the upgrade path). Only failures
count, and a success clears the account's failures; while either bucket is full, every attempt
is refused with 429 + ``Retry-After`` before any password is checked.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import Request

MAX_KEYS = 100_000


@dataclass
class SlidingWindow:
    """At most ``limit`` events per ``window_s`` seconds for each key."""

    limit: int
    window_s: float
    clock: Callable[[], float] = time.monotonic
    _hits: dict[str, deque[float]] = field(default_factory=dict)

    def _live(self, key: str, now: float) -> deque[float]:
        hits = self._hits.get(key)
        if hits is None:
            return deque()
        while hits and hits[0] <= now - self.window_s:
            hits.popleft()
        if not hits:
            del self._hits[key]
        return hits

    def retry_after(self, key: str) -> float:
        """Seconds until ``key`` may try again (0 when it may now)."""
        now = self.clock()
        hits = self._live(key, now)
        if len(hits) < self.limit:
            return 0.0
        return max(0.0, hits[len(hits) - self.limit] + self.window_s - now)

    def hit(self, key: str) -> None:
        now = self.clock()
        hits = self._live(key, now)
        if not hits:
            if len(self._hits) >= MAX_KEYS:  # bound memory under a flood of distinct keys
                self._hits.pop(next(iter(self._hits)))
            self._hits[key] = hits
        hits.append(now)

    def clear(self, key: str) -> None:
        self._hits.pop(key, None)


@dataclass
class LoginLimiter:
    """Failed logins: ``per_account`` per (tenant, email) and ``per_ip`` per client address."""

    per_account: int = 5
    per_ip: int = 50
    window_s: float = 900.0
    clock: Callable[[], float] = time.monotonic
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.accounts = SlidingWindow(self.per_account, self.window_s, self.clock)
        self.ips = SlidingWindow(self.per_ip, self.window_s, self.clock)

    @staticmethod
    def account_key(tenant: str, email: str) -> str:
        return f"{tenant.strip().lower()}\x00{email.strip().lower()}"

    def retry_after(self, account: str, ip: str) -> int:
        """Whole seconds to wait (0: go ahead)."""
        with self._lock:
            wait = max(self.accounts.retry_after(account), self.ips.retry_after(ip))
        return math.ceil(wait)

    def failed(self, account: str, ip: str) -> None:
        with self._lock:
            self.accounts.hit(account)
            self.ips.hit(ip)

    def succeeded(self, account: str) -> None:
        with self._lock:
            self.accounts.clear(account)


def login_limiter(request: Request) -> LoginLimiter:
    """The app's limiter (one per app, created on first use; tests may replace it)."""
    state = request.app.state
    limiter: LoginLimiter | None = getattr(state, "login_limiter", None)
    if limiter is None:
        limiter = state.login_limiter = LoginLimiter()
    return limiter
