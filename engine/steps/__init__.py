"""Step kinds: what executing one attempt of a step does.

A kind is a function ``(call, ctx) -> Outcome``. ``PURE_KINDS`` do no I/O and depend only on
the call, so the planner runs them inline while it schedules (no queue round trip, same save).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID


@dataclass(frozen=True)
class StepCall:
    """One attempt of one step (or foreach item), as a kind sees it."""

    run_id: UUID
    tenant_id: str
    workflow_id: str
    step_id: str
    index: int | None
    attempt: int
    uses: str
    input: Any
    timeout_s: float | None
    started_by: str
    now: datetime
    traceparent: str | None = None  # the run's trace (``Run.traceparent``): the attempt's parent

    @property
    def idempotency_key(self) -> str:
        """``<run id>:<step id>[:<index>]:<attempt>``: stable across re-executions."""
        where = self.step_id if self.index is None else f"{self.step_id}:{self.index}"
        return f"{self.run_id}:{where}:{self.attempt}"

    @property
    def key(self) -> tuple[UUID, str, int | None]:
        return (self.run_id, self.step_id, self.index)


@dataclass(frozen=True)
class Succeeded:
    output: Any


@dataclass(frozen=True)
class Failed:
    kind: str
    message: str
    retryable: bool
    retry_after_s: float | None = None
    """The endpoint's ``Retry-After``: the next attempt waits at least this long (capped)."""


@dataclass(frozen=True)
class Waiting:
    """The step now waits: a ``wait`` timer (``until``), an ``approval`` (``role``) or a
    ``signal`` (``name``)."""

    kind: str
    until: datetime | None
    role: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class StartChild:
    """A ``workflow:`` step resolved its workflow: the worker starts the child run (in the
    save that records the step waiting for it) and the step waits for its end."""

    workflow_id: str
    workflow_version: int
    definition: dict[str, Any]
    input: Any
    until: datetime | None
    traceparent: str | None = None  # the attempt's span, when traced: the child run's parent


Outcome = Succeeded | Failed | Waiting | StartChild


@dataclass
class KindContext:
    """What kinds with side effects need (built by the worker's composition root)."""

    platform: Any = None  # domain.platform.Platform, for notify and skill lookup
    http: Any = None  # an httpx.Client
    skills: Any = None  # engine.steps.skills.SkillDirectory
    workflows: Any = None  # engine.steps.subworkflow.WorkflowCatalog
    extra: dict[str, Any] = field(default_factory=dict)


Kind = Callable[[StepCall, KindContext], Outcome]

PURE_KINDS = frozenset({"noop", "transform", "fail", "wait", "approval", "signal"})


def registry() -> dict[str, Kind]:
    """The built-in kinds by name: each function is named after the kind it implements, one for
    each of `engine.definition.dsl.BUILTIN_KINDS` (skills are resolved separately)."""
    from engine.steps.basic import approval, fail, noop, signal, transform, wait
    from engine.steps.http import http
    from engine.steps.notify import notify

    kinds = (noop, transform, fail, wait, approval, http, notify, signal)
    return {kind.__name__: kind for kind in kinds}
