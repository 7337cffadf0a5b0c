"""The background loops' tenacity retries: growing waits, a log line per failed attempt, and a
stop that no wait holds up (the dispatcher's and the claimer's loops in an outage)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

import psycopg
import pytest

from domain.kernel.retrying import failure, until_stopped, until_stopped_async
from domain.platform import Platform
from engine.delivery import Dispatcher, DispatcherConfig
from engine.delivery.outbox import OutboxStore
from engine.runtime.claimer import Claimer
from engine.runtime.config import Counters, WorkerConfig
from engine.runtime.leases import Leases
from tests.support.polling import wait_until


def test_waits_grow_to_their_cap_and_a_stop_cuts_the_current_one_short() -> None:
    stop = threading.Event()
    waits: list[float] = []

    def failed(retry_state: Any) -> None:
        assert isinstance(failure(retry_state), OSError)
        waits.append(retry_state.upcoming_sleep)
        if len(waits) == 5:
            threading.Timer(0.05, stop.set).start()  # during the 5th wait (0.16 s)

    def away() -> None:
        raise OSError("the database went away")

    started = time.monotonic()
    assert until_stopped(stop, first_s=0.01, max_s=0.16, on_retry=failed)(away) is None
    took = time.monotonic() - started
    assert waits == [0.01, 0.02, 0.04, 0.08, 0.16]
    assert took < 0.01 + 0.02 + 0.04 + 0.08 + 0.16  # the last wait did not run out


def test_a_success_returns_its_value_and_a_base_exception_is_never_retried() -> None:
    stop = threading.Event()
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise OSError("not yet")
        return "done"

    assert until_stopped(stop, first_s=0.001, max_s=0.001, on_retry=print)(flaky) == "done"

    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        until_stopped(stop, first_s=0.001, max_s=0.001, on_retry=print)(interrupted)


def test_the_asyncio_wait_sees_a_threads_stop_within_a_wake() -> None:
    stop = threading.Event()

    async def away() -> None:
        raise OSError("the database went away")

    threading.Timer(0.1, stop.set).start()
    started = time.monotonic()
    retrying = until_stopped_async(stop, first_s=10.0, max_s=10.0, on_retry=lambda rs: None)
    assert asyncio.run(retrying(away)) is None
    assert time.monotonic() - started < 1.0  # not the 10 s wait


def test_a_dispatcher_in_an_outage_logs_each_attempt_and_stops_at_once(
    platform: Platform, caplog: pytest.LogCaptureFixture
) -> None:
    attempts: list[float] = []

    class Away(Dispatcher):
        async def _connect(self) -> OutboxStore:
            attempts.append(time.monotonic())
            raise psycopg.OperationalError("connection refused")

    d = Away(platform, "", DispatcherConfig(worker_id="w"), channels=lambda c: {})
    with caplog.at_level(logging.WARNING, logger="engine.delivery.dispatcher"):
        d.start()
        wait_until(lambda: len(attempts) >= 5, 10, interval=0.01, message="five attempts")
        stopping = time.monotonic()
        d.stop(timeout=10)
        took = time.monotonic() - stopping
    assert not d.running
    assert took < 0.5, f"stop took {took:.2f}s in a back-off of up to 1 s"
    lines = [r.getMessage() for r in caplog.records if "reconnecting" in r.getMessage()]
    assert lines[:4] == [f"dispatcher w: OperationalError: connection refused; reconnecting in "
                         f"{s}s" for s in ("0.1", "0.2", "0.4", "0.8")]  # fmt: skip
    assert isinstance(d.error, psycopg.OperationalError)


class AwayQueue:
    """A task queue whose database is away."""

    def __init__(self) -> None:
        self.sessions = 0

    def session(self, listen: bool = False) -> Any:
        self.sessions += 1
        raise psycopg.OperationalError("connection refused")


def test_the_claimer_in_an_outage_counts_each_attempt_and_stops_at_once() -> None:
    import queue

    config = WorkerConfig(worker_id="w")
    tasks, counters, stopping = AwayQueue(), Counters(), threading.Event()
    claimer = Claimer(config, tasks, Leases(config), queue.Queue(), counters,  # type: ignore[arg-type]
                      stopping, lambda: None)  # fmt: skip
    thread = threading.Thread(target=claimer.loop)
    thread.start()
    wait_until(lambda: tasks.sessions >= 3, 10, interval=0.01, message="three attempts")
    stopping.set()
    started = time.monotonic()
    thread.join(5)
    assert not thread.is_alive()
    assert time.monotonic() - started < 0.5
    assert counters.snapshot()["db_errors"] >= 3
