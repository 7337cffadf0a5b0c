"""A worker's tuning (``WorkerConfig``) and its counters (``Counters``: benchmarks, /metrics)."""

from __future__ import annotations

import os
import secrets
import socket
import threading
from dataclasses import dataclass, field

from engine.scheduling.retry import MAX_CLAIMS

MAX_HELD_FACTOR = 4
"""Leases held (executing, or done and waiting for the committer) at most per unit of
``concurrency``."""


def _default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass
class WorkerConfig:
    """Tuning of one worker process (see docs/engine.md, Runtime)."""

    concurrency: int = 8
    lease_s: float = 30.0
    tenant_cap: int = 64  # leased attempts per tenant, across all workers
    max_batch: int = 128  # messages the committer folds into one save
    max_claims: int = MAX_CLAIMS  # leases of one attempt lost to dead workers before it fails
    idle_s: float = 5.0  # longest sleep without a notification
    lease_margin_s: float | None = None  # safety margin on leases; None: lease_s / 10
    worker_id: str = field(default_factory=_default_worker_id)

    @property
    def margin_s(self) -> float:
        return self.lease_s / 10 if self.lease_margin_s is None else self.lease_margin_s


class Counters:
    """Monotonic counters (thread-safe), for benchmarks and /metrics."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.values: dict[str, int] = dict.fromkeys(
            ("steps_executed", "saves", "events_saved", "runs_saved", "conflicts", "claimed",
             "self_claimed", "timers_fired", "stale", "db_errors", "lease_expired",
             "claim_queries", "empty_claims", "loads", "loaded_versions", "refreshes",
             "fenced", "leases_lost", "dropped_before_start", "internal_errors",
             "quarantined", "parked", "loop_restarts"), 0,
        )  # fmt: skip

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.values[name] = self.values.get(name, 0) + n

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            out: dict[str, float] = dict(self.values)
        saved = out["saves"] or 1
        out["events_per_save"] = out["events_saved"] / saved
        out["events_per_step"] = out["events_saved"] / (out["steps_executed"] or 1)
        return out
