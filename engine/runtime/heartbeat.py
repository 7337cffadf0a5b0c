"""The heartbeat: renews this worker's leases every ``lease_s / 3`` and marks the lost ones.

A lease the database no longer holds for this worker under its token (claimed again after it
ran out, or its attempt gone) is marked lost: its attempt will not start here and its result
will not be saved. Each round also has the worker restart any loop thread that died (``watch``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from domain.runs.tasks import TaskKey
from engine.runtime.config import Counters, WorkerConfig
from engine.runtime.leases import Leases
from engine.runtime.ports import DB_ERRORS, QueueSession, TaskQueue

log = logging.getLogger(__name__)


class Heartbeat:
    """The heartbeat loop (``loop``; one thread, until ``done``)."""

    def __init__(
        self,
        config: WorkerConfig,
        tasks: TaskQueue,
        leases: Leases,
        counters: Counters,
        done: threading.Event,
        beat: Callable[[], None],
        watch: Callable[[], None],
    ) -> None:
        self.config = config
        self.tasks = tasks
        self.leases = leases
        self.counters = counters
        self.done = done
        self.beat = beat
        self.watch = watch

    def loop(self) -> None:
        session: QueueSession | None = None
        interval = self.config.lease_s / 3
        while not self.done.wait(interval):
            self.beat()
            self.watch()
            leases = self.leases.tokens()
            if not leases:
                continue
            try:
                if session is None or session.closed:
                    session = self.tasks.session()
                self.renew(session, leases)
            except Exception as e:  # the database away, or a bug: never the end of the loop
                if isinstance(e, DB_ERRORS):
                    log.warning("worker %s: heartbeat: %s", self.config.worker_id, e)
                else:
                    self.counters.add("internal_errors")
                    log.exception("worker %s: heartbeat", self.config.worker_id)
                if session is not None:
                    session.close()
                session = None
        if session is not None:
            session.close()

    def renew(self, session: QueueSession, leases: dict[TaskKey, int]) -> None:
        """Renew ``leases`` (key -> token); mark those the database did not renew lost."""
        sent = time.monotonic()
        renewed = session.heartbeat(self.config.worker_id, leases, self.config.lease_s)
        lost = self.leases.renewed(leases, renewed, sent)
        if lost:
            self.counters.add("leases_lost", lost)
            log.warning("worker %s: %d leases lost (claimed again elsewhere)",
                        self.config.worker_id, lost)  # fmt: skip
