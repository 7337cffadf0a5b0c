"""The leases one worker holds: which attempts, under which fencing tokens, certainly until when.

Shared by the worker's threads (one lock): the claimer and the committer add leases, the
heartbeat renews them or marks them lost, the executors check one immediately before an
attempt's side effect, the committer forgets them once their results are saved. ``capacity``
is set whenever a slot frees up (it wakes the claimer).

Deadlines are on this process's monotonic clock: a lease granted by a statement sent at
``sent`` is certainly held until ``sent + lease_s - margin_s`` (the database's lease starts
after the statement was sent; the margin covers clock rate differences and pauses).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from domain.runs.tasks import TaskKey
from engine.runtime.config import MAX_HELD_FACTOR, WorkerConfig
from engine.runtime.ports import FIRST_TOKEN


@dataclass
class Lease:
    """A lease this worker holds: the attempt, its fencing token, and the monotonic time after
    which the lease may be gone (the database's expiry minus the safety margin)."""

    attempt: int
    token: int
    deadline: float
    lost: bool = False


class Leases:
    """The leases held (the heartbeat renews them) and those not executed yet (``busy``, they
    count against ``concurrency``)."""

    def __init__(self, config: WorkerConfig) -> None:
        self.config = config
        self.held: dict[TaskKey, Lease] = {}
        self.busy: set[TaskKey] = set()
        self.lock = threading.Lock()
        self.capacity = threading.Event()

    def deadline(self, sent: float) -> float:
        """The monotonic time a lease granted after ``sent`` is certainly held until."""
        return sent + self.config.lease_s - self.config.margin_s

    def __len__(self) -> int:
        with self.lock:
            return len(self.held)

    def free(self, consumed: Iterable[TaskKey] = ()) -> int:
        """Attempts this worker may still take: ``concurrency`` minus those not executed yet,
        and at most ``MAX_HELD_FACTOR * concurrency`` held (``consumed``: leases about to go).

        Results waiting for the committer do not count (their lease is still held): a run's
        next steps stay with the worker that has it cached instead of going to another worker
        (whose save would then conflict with ours). The leases held are capped all the same.
        """
        gone = set(consumed)
        with self.lock:
            busy = len(self.busy - gone)
            held = len(self.held.keys() - gone)
        return min(self.config.concurrency - busy, MAX_HELD_FACTOR * self.config.concurrency - held)

    def take(self, leases: Mapping[TaskKey, tuple[int, int]], sent: float) -> None:
        """Hold these leases (key -> (attempt, token)), granted after ``sent``; not executed."""
        deadline = self.deadline(sent)
        with self.lock:
            for key, (attempt, token) in leases.items():
                self.held[key] = Lease(attempt, token, deadline)
                self.busy.add(key)

    def tokens(self) -> dict[TaskKey, int]:
        """The leases to renew: key -> token, lost ones left out."""
        with self.lock:
            return {k: v.token for k, v in self.held.items() if not v.lost}

    def renewed(self, leases: Mapping[TaskKey, int], renewed: set[TaskKey], sent: float) -> int:
        """Extend the leases the heartbeat renewed; mark the others lost (claimed again by
        another worker, or gone): their attempts will not start here, their results not save.
        Returns how many were lost."""
        deadline = self.deadline(sent)
        lost = 0
        with self.lock:
            for key, token in leases.items():
                lease = self.held.get(key)
                if lease is None or lease.token != token:
                    continue  # replaced meanwhile (a new attempt leased to us)
                if key in renewed:
                    lease.deadline = max(lease.deadline, deadline)
                else:
                    lease.lost, lease.deadline = True, float("-inf")
                    lost += 1
        return lost

    def still_held(self, key: TaskKey, token: int) -> bool:
        """Whether the lease is certainly still ours; if it ran out, it is forgotten."""
        with self.lock:
            lease = self.held.get(key)
            if lease is not None and lease.token == token and time.monotonic() < lease.deadline:
                return True
            if lease is not None and lease.token == token:
                del self.held[key]
        return False

    def executed(self, key: TaskKey) -> None:
        """The attempt ran (its result goes to the committer; the lease is still held)."""
        with self.lock:
            self.busy.discard(key)

    def release(self, keys: Iterable[TaskKey], tokens: Mapping[TaskKey, int] | None = None) -> None:
        """Forget leases (only those still under the given tokens, if given)."""
        with self.lock:
            for key in keys:
                lease = self.held.get(key)
                if lease is not None and (tokens is None or lease.token == tokens.get(key)):
                    del self.held[key]
                self.busy.discard(key)
        self.capacity.set()

    def settle(self, consumed: set[TaskKey], taken: Mapping[TaskKey, int], sent: float) -> None:
        """After a save: forget the leases it consumed, hold the rows it leased to this worker
        (key -> attempt, under the first token) that it did not consume."""
        deadline = self.deadline(sent)
        with self.lock:
            for key in consumed:
                self.held.pop(key, None)
                self.busy.discard(key)
            for key, attempt in taken.items():
                if key not in consumed:
                    self.held[key] = Lease(attempt, FIRST_TOKEN, deadline)
                    self.busy.add(key)
        if consumed:
            self.capacity.set()
