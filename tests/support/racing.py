"""Races for the concurrency tests: calls released together, and saves held until both load."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.persistence import IntegrityError

TIMEOUT_S = 30


@dataclass
class Outcome:
    value: Any = None
    error: BaseException | None = None


def race(*calls: Callable[[], Any]) -> list[Outcome]:
    """Run ``calls`` in threads released together; each call's result or exception."""
    barrier = threading.Barrier(len(calls))
    outcomes = [Outcome() for _ in calls]

    def run(i: int, call: Callable[[], Any]) -> None:
        barrier.wait(timeout=TIMEOUT_S)
        try:
            outcomes[i].value = call()
        except Exception as e:
            outcomes[i].error = e

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT_S)
    assert not any(t.is_alive() for t in threads), "a racing command hung"
    return outcomes


@dataclass
class SaveSpy:
    """Wraps ``app.save``: records what each call tried to save and every IntegrityError.

    With ``gate``, the app's first save waits there, so both racers have finished reading
    before either writes (the clash is then certain, not left to thread scheduling); a retry
    does not wait.
    """

    app: Any
    gate: threading.Barrier | None = None
    attempted_ids: list[uuid.UUID] = field(default_factory=list)
    clashes: int = 0

    def __post_init__(self) -> None:
        self._save = self.app.save
        self.app.save = self

    def restore(self) -> None:
        self.app.save = self._save

    def __call__(self, *aggregates: Any, **kwargs: Any) -> Any:
        self.attempted_ids += [a.id for a in aggregates]
        if self.gate is not None:
            gate, self.gate = self.gate, None
            gate.wait(timeout=TIMEOUT_S)
        try:
            return self._save(*aggregates, **kwargs)
        except IntegrityError:
            self.clashes += 1
            raise


@contextmanager
def spying(apps: tuple[Any, ...] | list[Any], *, gated: bool = False) -> Iterator[list[SaveSpy]]:
    """A ``SaveSpy`` on each app (sharing one gate if ``gated``), removed on leaving."""
    gate = threading.Barrier(len(apps)) if gated else None
    spies = [SaveSpy(app, gate) for app in apps]
    try:
        yield spies
    finally:
        for spy in spies:
            spy.restore()
