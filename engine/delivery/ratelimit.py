"""Per-tenant token buckets: one tenant cannot flood a provider."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from uuid import UUID


@dataclass
class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; one token per message."""

    rate: float
    burst: float
    tokens: float
    updated: float

    def take(self, now: float) -> float:
        """Take a token: 0.0 if one was available, else the seconds until one will be."""
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0 - 1e-9:  # float residue of the refill must not cost a wait
            self.tokens = max(0.0, self.tokens - 1.0)
            return 0.0
        if self.rate <= 0:
            return 3600.0
        return (1.0 - self.tokens) / self.rate


@dataclass
class TenantRateLimiter:
    """A bucket per tenant, reshaped when the tenant's configured limit changes."""

    clock: Callable[[], float] = time.monotonic
    buckets: dict[UUID, TokenBucket] = field(default_factory=dict)

    def take(self, tenant_id: UUID, rate: float, burst: float) -> float:
        now = self.clock()
        burst = max(1.0, burst)
        bucket = self.buckets.get(tenant_id)
        if bucket is None:
            bucket = self.buckets[tenant_id] = TokenBucket(rate, burst, burst, now)
        elif (bucket.rate, bucket.burst) != (rate, burst):
            bucket.rate, bucket.burst = rate, burst
            bucket.tokens = min(bucket.tokens, burst)
        return bucket.take(now)
