"""The claimer: leases ready rows of the queue for this worker and hands them to the committer.

``LISTEN platinum_run_tasks``; leases ready rows (fair across tenants, capped per tenant, locked
rows skipped) as long as this worker has room; sleeps until a notification or the next due time
(timers, retry back-off, expired leases): no busy polling. The database away, or a bug: the loop
backs off (within a second) and goes on with a new session.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

from tenacity import RetryCallState

from domain.kernel.retrying import failure, until_stopped
from engine.runtime.config import Counters, WorkerConfig
from engine.runtime.executor import Message
from engine.runtime.leases import Leases
from engine.runtime.ports import DB_ERRORS, QueueSession, TaskQueue

log = logging.getLogger(__name__)


class Claimer:
    """The claim loop (``loop``; one thread). ``beat`` is called each time round."""

    def __init__(
        self,
        config: WorkerConfig,
        tasks: TaskQueue,
        leases: Leases,
        inbox: queue.Queue[Message],
        counters: Counters,
        stopping: threading.Event,
        beat: Callable[[], None],
    ) -> None:
        self.config = config
        self.tasks = tasks
        self.leases = leases
        self.inbox = inbox
        self.counters = counters
        self.stopping = stopping
        self.beat = beat
        self._session: QueueSession | None = None

    def loop(self) -> None:
        rounds = until_stopped(self.stopping, first_s=0.2, max_s=1.0, on_retry=self._failed)
        try:
            while not self.stopping.is_set():
                rounds(self._round)  # a new retry state after each success: back within 1 s
        finally:
            self._close()

    def _round(self) -> None:
        self.beat()
        if self.stopping.is_set():
            return
        if self._session is None or self._session.closed:
            self._session = self.tasks.session(listen=True)
        self.claim_once(self._session)

    def _failed(self, retry_state: RetryCallState) -> None:
        """The database away, or a bug: never the end of the loop; a new session next time."""
        e = failure(retry_state)
        if isinstance(e, DB_ERRORS):
            self.counters.add("db_errors")
            log.warning("worker %s: claimer: %s", self.config.worker_id, e)
        else:
            self.counters.add("internal_errors")
            log.error("worker %s: claimer", self.config.worker_id, exc_info=e)
        self._close()

    def _close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            session.close()

    def claim_once(self, session: QueueSession) -> None:
        self.leases.capacity.clear()  # before looking: a slot freed after this wakes the wait
        free = self.leases.free()
        if free <= 0:
            self.leases.capacity.wait(self.config.idle_s)
            return
        sent = time.monotonic()  # the database's lease starts after this: ours ends earlier
        claimed = session.claim(self.config.worker_id, free, lease_s=self.config.lease_s,
                                tenant_cap=self.config.tenant_cap)  # fmt: skip
        self.counters.add("claim_queries")
        if not claimed:
            self.counters.add("empty_claims")
        if claimed:
            self.leases.take({c.key: (c.attempt, c.fence) for c in claimed}, sent)
            self.counters.add("claimed", len(claimed))
            for c in claimed:
                self.inbox.put(c)
            if len(claimed) == free:
                return  # maybe more are ready
        due = session.next_due_s()
        if due is None:
            timeout = self.config.idle_s
        elif due <= 0:
            # ready rows we did not get: locked by another claimer or over the tenant cap
            timeout = 0.05 if not claimed else 0.0
        else:
            timeout = min(due, self.config.idle_s)
        if timeout > 0:
            session.wait(timeout)
