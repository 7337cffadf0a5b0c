"""The runs as this worker last saved them: loaded once, then kept (least recently used out).

Optimistic: a copy that is behind (another worker saved the run since) fails its next save with
a conflict and is then reloaded, or is brought up to date first when a message says it is
behind (``refresh``). Used by the committer's thread only.
"""

from __future__ import annotations

from collections import OrderedDict
from uuid import UUID

from domain.kernel.errors import NotFoundError
from domain.runs.application import Runs
from domain.runs.run import Run
from engine.runtime.config import Counters


class RunCache:
    """At most ``size`` runs, by id."""

    def __init__(self, runs: Runs, counters: Counters, size: int = 2000) -> None:
        self.runs = runs
        self.counters = counters
        self.size = size
        self._runs: OrderedDict[UUID, Run] = OrderedDict()

    def __contains__(self, run_id: object) -> bool:
        return run_id in self._runs

    def __len__(self) -> int:
        return len(self._runs)

    def take(self, run_id: UUID, *, fresh: bool = False) -> Run | None:
        """The run, out of the cache (unless ``fresh``) or loaded; None if there is none."""
        run = None if fresh else self._runs.pop(run_id, None)
        if run is None:
            try:
                run = self.runs.load(run_id)
            except NotFoundError:
                return None
            self.counters.add("loads")
            self.counters.add("loaded_versions", run.version)
        return run

    def keep(self, run: Run) -> None:
        """Keep the run as saved (the most recently used)."""
        self._runs[run.id] = run
        self._runs.move_to_end(run.id)
        while len(self._runs) > self.size:
            self._runs.popitem(last=False)

    def drop(self, run_id: UUID) -> None:
        self._runs.pop(run_id, None)

    def refresh(self, run: Run) -> Run:
        """The run brought up to date with the events stored after its version (a copy with
        no pending events only)."""
        self.counters.add("refreshes")
        for event in self.runs.events.get(run.id, gt=run.version):
            run = event.mutate(run)  # type: ignore[attr-defined]
        return run
