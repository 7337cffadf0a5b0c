"""The retry policy: which failed attempts go again, after how long, and when lost leases end it.

One place for every rule about retries (docs/engine.md, "Retries"):

- errors that are never retried (``never_retried``): deterministic ones, another attempt would
  fail alike; definition validation refuses them in ``retry_on`` by the same rule;
- a step's ``retry`` policy: ``max_attempts``, ``retry_on`` (else the kind's ``retryable``),
  exponential ``backoff`` with a deterministic jitter, the target's ``Retry-After`` honoured up
  to ``max_interval_s``;
- lost leases (a worker died holding the attempt): the queue gives the same attempt to another
  worker up to ``MAX_CLAIMS`` times, then the attempt fails with kind ``lease_expired``; such a
  failure is retried at once, ``MAX_LOST_ATTEMPTS`` times beyond the policy (it is not the
  step's fault, so it does not count against ``max_attempts``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from domain.runs.run import StepStatus
from engine.definition.dsl import RetryPolicy

LEASE_EXPIRED = "lease_expired"
"""The error kind of an attempt whose leases were lost ``MAX_CLAIMS`` times."""

MAX_CLAIMS = 5
"""Leases of one attempt lost to dead workers before the attempt fails (``lease_expired``)."""

MAX_LOST_ATTEMPTS = 3
"""Attempts failed with ``lease_expired`` that are retried, beyond the step's policy."""

_NEVER_RETRIED = frozenset({"expression", "rejected", "invalid_output"})


def never_retried(kind: str) -> bool:
    """Errors of this kind are deterministic: another attempt would fail the same way (a bad
    expression, a rejection, an output that cannot be stored or is too large)."""
    return kind in _NEVER_RETRIED or kind.endswith("_too_large")


def retry_eligible(slot: Mapping[str, Any], policy: RetryPolicy) -> bool:
    """Whether a failed attempt (a step's or a foreach item's slot) gets another one."""
    error = slot["error"]
    if slot["status"] != StepStatus.FAILED or error is None or slot.get("items") is not None:
        return False
    kind = error["kind"]
    if never_retried(kind):
        return False
    if kind == LEASE_EXPIRED:
        return int(slot["lost"]) <= MAX_LOST_ATTEMPTS
    if slot["attempt"] - slot["lost"] >= policy.max_attempts:
        return False
    return kind in policy.retry_on if policy.retry_on is not None else bool(error["retryable"])


def backoff(
    policy: RetryPolicy, run_id: UUID, step_id: str, index: int | None, attempt: int
) -> float:
    """Seconds before attempt `attempt + 1`; the jitter is derived from a hash (deterministic)."""
    delay = min(
        policy.max_interval_s, policy.initial_interval_s * policy.multiplier ** (attempt - 1)
    )
    if policy.jitter:
        digest = hashlib.sha256(f"{run_id}:{step_id}:{index}:{attempt}".encode()).digest()
        delay *= 0.5 + 0.5 * int.from_bytes(digest[:8], "big") / 2**64
    return delay


def honour_retry_after(delay: float, retry_after_s: Any, policy: RetryPolicy) -> float:
    """At least the target's ``Retry-After``, but never past ``max_interval_s`` (the cap)."""
    if retry_after_s is None:
        return delay
    return max(delay, min(float(retry_after_s), policy.max_interval_s))
