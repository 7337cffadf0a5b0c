"""The scheduling layer's errors: the planner and the scheduler raise these, nothing else."""

from __future__ import annotations

from uuid import UUID

from engine.errors import EngineError


class SchedulingError(EngineError):
    """Root of the errors of ``engine.scheduling``."""


class DefinitionUnavailableError(SchedulingError):
    """The definition a run is pinned to cannot be had here (unknown, gone, or changed since):
    the run cannot go on."""

    def __init__(self, run_id: UUID, why: str) -> None:
        self.run_id = run_id
        super().__init__(f"run {run_id}: {why}")


class DefinitionMismatchError(SchedulingError):
    """The scheduler was given another definition than the one the run is pinned to (a bug)."""

    def __init__(self, run_id: UUID, pinned: str, given: str) -> None:
        self.run_id, self.pinned, self.given = run_id, pinned, given
        super().__init__(f"run {run_id} is pinned to definition {pinned}, not {given}")


class NoFixedPointError(SchedulingError):
    """Deciding and applying did not settle within the round limit (a bug in the scheduler)."""

    def __init__(self, run_id: UUID, rounds: int) -> None:
        self.run_id, self.rounds = run_id, rounds
        super().__init__(f"run {run_id}: no fixed point after {rounds} rounds")
