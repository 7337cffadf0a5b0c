"""The lifecycle every projection loop shares: one daemon thread, started, beating, stopped.

Its in-process retries (the database away, a round that failed) are tenacity's, ended by the
loop's stop event, which also cuts a wait short (``domain.kernel.retrying``, shared with the
engine's loops).
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, Self

from tenacity import RetryCallState, Retrying

from domain.kernel.retrying import failure, until_stopped

__all__ = ["LoopThread", "failure"]


class LoopThread(ABC):
    """Runs ``_loop`` on a daemon thread until :meth:`stop`; ``last_beat`` is its liveness."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_beat = time.monotonic()  # when the loop last went round

    @abstractmethod
    def _thread_name(self) -> str:
        """The thread's name, as logs and ``py-spy`` show it."""

    @abstractmethod
    def _loop(self) -> None:
        """Go round until ``self._stop`` is set, updating ``last_beat`` each time."""

    def start(self) -> Self:
        self._stop.clear()
        self.last_beat = time.monotonic()
        self._thread = threading.Thread(target=self._loop, name=self._thread_name(), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _retrying(
        self, *, first_s: float, max_s: float, on_retry: Callable[[RetryCallState], Any]
    ) -> Retrying:
        """Retry any ``Exception`` until stopped, waiting ``first_s``, twice that, ... at most
        ``max_s`` (a stop cuts the wait short); ``on_retry`` is told each failure. Once
        stopped, the retrying returns None instead of raising."""
        return until_stopped(self._stop, first_s=first_s, max_s=max_s, on_retry=on_retry)
