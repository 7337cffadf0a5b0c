"""The scheduler's decisions: what should happen next in a run, and how each becomes Run commands.

``engine.scheduling.scheduler.decide`` returns these (pure data); ``apply_decisions`` records
them as the Run's pending events (nothing is saved here).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.runs.run import Run


@dataclass(frozen=True)
class ScheduleStep:
    step_id: str
    index: int | None
    attempt: int
    not_before: datetime | None
    input: Any


@dataclass(frozen=True)
class RetryStep:
    step_id: str
    index: int | None
    attempt: int
    not_before: datetime | None


@dataclass(frozen=True)
class SkipStep:
    step_id: str
    reason: str
    index: int | None = None


@dataclass(frozen=True)
class FailStep:
    step_id: str
    index: int | None
    attempt: int
    error_kind: str
    message: str
    retryable: bool


@dataclass(frozen=True)
class CompleteStep:
    step_id: str
    index: int | None
    attempt: int
    output: Any


@dataclass(frozen=True)
class ExpandForeach:
    step_id: str
    items: list[Any]


@dataclass(frozen=True)
class CompleteRun:
    output: Any


@dataclass(frozen=True)
class FailRun:
    reason: str
    error_kind: str | None = field(default=None, compare=False)  # the failing step's


@dataclass(frozen=True)
class TakeSignal:
    """A waiting ``signal`` step takes the oldest buffered signal of its name."""

    step_id: str
    index: int | None
    attempt: int
    name: str


Decision = (
    ScheduleStep
    | RetryStep
    | SkipStep
    | FailStep
    | CompleteStep
    | ExpandForeach
    | CompleteRun
    | FailRun
    | TakeSignal
)


def apply_decisions(run: Run, decisions: list[Decision]) -> None:
    """Record decisions as the Run's pending events (nothing is saved here)."""
    for d in decisions:
        match d:
            case ScheduleStep():
                run.schedule_step(d.step_id, d.index, d.attempt, d.not_before, d.input)
            case RetryStep():
                run.schedule_retry(d.step_id, d.index, d.attempt, d.not_before)
            case SkipStep():
                run.skip_step(d.step_id, d.index, d.reason)
            case FailStep():
                run.fail_step(
                    d.step_id, d.index, d.attempt,
                    error_kind=d.error_kind, message=d.message, retryable=d.retryable,
                )  # fmt: skip
            case CompleteStep():
                run.complete_step(d.step_id, d.index, d.attempt, d.output)
            case ExpandForeach():
                run.expand_foreach(d.step_id, d.items)
            case CompleteRun():
                run.succeed(d.output)
            case FailRun():
                run.fail(d.reason, d.error_kind)
            case TakeSignal():
                run.take_signal(d.step_id, d.index, d.attempt, d.name)
