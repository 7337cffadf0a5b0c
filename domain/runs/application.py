"""The ``Runs`` application: starting, steering and reading workflow runs (table ``runs_events``).

Scheduling is the engine's: it comes in through the ``RunPlanner`` port (the domain imports no
engine). Every save also carries the run's *task changes*: the work items its new state implies
(an attempt to execute, a timer to fire), computed by ``domain.runs.tasks.run_tasks`` from
the state. The engine's recorder writes them in the same transaction as the events, so the work
queue can never disagree with the events, and can be rebuilt from them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Protocol
from uuid import UUID, uuid4, uuid5

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError, Recording
from eventsourcing.utils import EnvType

from domain.kernel import validators as v
from domain.kernel.clock import utc_now
from domain.kernel.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    StaleVersionError,
    ValidationError,
)
from domain.kernel.ids import NAMESPACE
from domain.kernel.personal_data import RUN, ShreddingApplication
from domain.runs.link_commands import LinkCommands
from domain.runs.run import Run
from domain.runs.run_data import SEALING_RULES
from domain.runs.tasks import RunTask, TaskChanges, TaskKey, run_tasks, task_changes
from domain.topics import register_moved_topics

Clock = Callable[[], datetime]


# ------------------------------------------------------------------------------ ports and inputs


@dataclass(frozen=True)
class PreparedDefinition:
    """What a run needs of its definition to start: the content hash and the step ids."""

    hash: str
    step_ids: list[str]


class RunPlanner(Protocol):
    """The engine's side of a run: compile definitions, decide (and record) what follows."""

    def prepare(self, definition: dict[str, Any]) -> PreparedDefinition:
        """Compile a (valid) definition; raises ValidationError if it cannot run."""
        ...

    def advance(self, run: Run, now: datetime) -> None:
        """Record, as the run's pending events, everything that follows from its state."""
        ...


class AdvanceDeferred(Exception):  # noqa: N818 - a signal, not an error
    """Raised by ``RunPlanner.advance`` on a run's first advance when it would be costly (an
    expression that needs the engine's bounded evaluation): the start is recorded alone and a
    worker advances the run (``run_tasks`` gives such a run its start task)."""


@dataclass(frozen=True)
class StartRun:
    tenant_id: UUID | str
    workflow_id: UUID | str
    workflow_version: int
    definition: dict[str, Any]
    input: Any
    started_by: UUID | str
    idempotency_key: str | None = None
    trigger: dict[str, Any] | None = None  # e.g. {"kind": "schedule", "id", "tick"}
    traceparent: str | None = None  # W3C trace context of the span starting it (None: untraced)


@dataclass(frozen=True)
class DecideApproval:
    """Approve or reject a waiting ``approval`` step; ``roles`` are the deciding user's."""

    tenant_id: UUID | str
    run_id: UUID
    step_id: str
    user_id: UUID | str
    roles: Collection[str]
    comment: str | None = None
    index: int | None = None
    expected_version: int | None = None  # the run's version from its ETag (If-Match)


class IdempotencyKeyReusedError(ConflictError):
    """The Idempotency-Key already started a run of this workflow with a different input."""

    def __init__(self, run_id: UUID, key: str) -> None:
        self.run_id = run_id
        self.key = key
        super().__init__(
            f"idempotency key {key!r} already started run {run_id} with a different input",
            resource_type="run",
            resource_id=run_id,
        )


IDEMPOTENCY_WINDOW = timedelta(hours=24)
"""How long an Idempotency-Key stands for the run it started (http-api.md: 24 h)."""


def run_id_for(tenant_id: str, workflow_id: str, idempotency_key: str, generation: int = 0) -> UUID:
    """The id of the run an Idempotency-Key starts: a duplicate start clashes on it.

    ``generation`` n >= 1 is the run the key started after its n-th expiry (the key is taken
    again once its latest run is older than ``IDEMPOTENCY_WINDOW``).
    """
    suffix = f":{generation}" if generation else ""
    return uuid5(NAMESPACE, f"run:{tenant_id}:{workflow_id}:{idempotency_key}{suffix}")


@dataclass(frozen=True)
class RunStart:
    """What a start did: the run, and whether it was an earlier start's (an idempotent replay)."""

    run: Run
    replayed: bool


# ------------------------------------------------------------------------------ the application


class Runs(LinkCommands, ShreddingApplication):
    """Runs of workflows. ``Runs(env=None, *, planner=None, clock=None)``.

    Without a planner, runs are recorded but nothing is scheduled (tests, read-only use).
    """

    name = "runs"
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {Run: 50}
    sealing_rules = SEALING_RULES  # the runs' data under each run's key (retention)

    def __init__(
        self,
        env: EnvType | None = None,
        *,
        planner: RunPlanner | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(env)
        self.planner = planner
        self.clock = clock or utc_now

    # -- queries

    def load(self, run_id: UUID) -> Run:
        """A run of any tenant (engine use); NotFoundError if there is none."""
        try:
            run: Any = self.repository.get(run_id)
        except AggregateNotFoundError:
            raise NotFoundError("run", run_id) from None
        if not isinstance(run, Run):
            raise NotFoundError("run", run_id)
        return run

    def get_run(self, tenant_id: UUID | str, run_id: UUID) -> Run:
        """A run of this tenant; another tenant's run is reported exactly as a missing one."""
        run = self.load(run_id)
        if run.tenant_id != str(tenant_id):
            raise NotFoundError("run", run_id)
        return run

    # -- commands

    def start_run(self, cmd: StartRun) -> Run:
        """Start a run; with an Idempotency-Key a repeated start returns the first run."""
        return self.start(cmd).run

    def start(self, cmd: StartRun) -> RunStart:
        """Start a run. With an Idempotency-Key, the same key and input within
        ``IDEMPOTENCY_WINDOW`` of the key's latest run return that run (``replayed``); another
        input is refused (``IdempotencyKeyReusedError``); past the window the key starts a new
        run. Racing starts of one key clash on the run's deterministic id: one run, one winner.
        """
        tenant, workflow = str(cmd.tenant_id), str(cmd.workflow_id)
        v.storable(cmd.input, "/input")
        if cmd.idempotency_key:
            v.text(cmd.idempotency_key, "/idempotency_key", max_len=255)
        schema = cmd.definition.get("input_schema")
        if isinstance(schema, dict):
            problems = v.schema_problems(cmd.input, schema, "/input")
            if problems:
                raise ValidationError(problems)
        planner = self._planner()
        prepared = planner.prepare(cmd.definition)
        key = cmd.idempotency_key
        now = self.clock()
        run_id = uuid4()
        if key:
            generation, latest = self._latest_start(tenant, workflow, key)
            if latest is not None and now - latest.timestamp < IDEMPOTENCY_WINDOW:
                return RunStart(self._same_start(self.load(latest.originator_id), cmd), True)
            run_id = run_id_for(tenant, workflow, key, generation + (latest is not None))

        def record() -> Run:
            try:
                return Run.start(
                    tenant_id=tenant, workflow_id=workflow,
                    workflow_version=cmd.workflow_version, definition_hash=prepared.hash,
                    step_ids=prepared.step_ids, input=cmd.input, started_by=str(cmd.started_by),
                    idempotency_key=key, run_id=run_id, started_at=now, trigger=cmd.trigger,
                    traceparent=cmd.traceparent,
                )  # fmt: skip
            except ValueError as e:
                raise ValidationError.one("/input", str(e)) from None

        run = record()
        try:
            planner.advance(run, now)
        except AdvanceDeferred:
            run = record()  # the start alone; a worker takes its start task and advances it
        try:
            self.save_runs([(run, {})])
        except IntegrityError:
            if not key:
                raise
            return RunStart(self._same_start(self.load(run_id), cmd), True)
        return RunStart(run, False)

    def cancel_run(
        self,
        tenant_id: UUID | str,
        run_id: UUID,
        reason: str = "cancelled",
        *,
        expected_version: int | None = None,
    ) -> Run:
        v.storable(reason, "/reason")
        return self._command(
            tenant_id, run_id, lambda run: run.cancel(reason), advance=False,
            expected_version=expected_version,
        )  # fmt: skip

    def pause_run(
        self, tenant_id: UUID | str, run_id: UUID, *, expected_version: int | None = None
    ) -> Run:
        """Stop scheduling new work (running attempts finish; timers wait): 409 unless running."""
        return self._command(
            tenant_id, run_id, lambda run: run.pause(), advance=False,
            expected_version=expected_version,
        )  # fmt: skip

    def resume_run(
        self, tenant_id: UUID | str, run_id: UUID, *, expected_version: int | None = None
    ) -> Run:
        """Go on with a paused run (what fell due meanwhile happens now): 409 unless paused."""
        return self._command(
            tenant_id, run_id, lambda run: run.resume(), advance=True,
            expected_version=expected_version,
        )  # fmt: skip

    def approve_step(self, cmd: DecideApproval) -> Run:
        """Approve a waiting approval step (the user must hold the step's role)."""
        v.storable([cmd.step_id, cmd.comment], "")

        def approve(run: Run) -> None:
            self._check_role(run, cmd)
            run.approve(cmd.step_id, by=str(cmd.user_id), comment=cmd.comment, index=cmd.index)

        return self._command(
            cmd.tenant_id, cmd.run_id, approve, advance=True, expected_version=cmd.expected_version
        )

    def reject_step(self, cmd: DecideApproval) -> Run:
        v.storable([cmd.step_id, cmd.comment], "")

        def reject(run: Run) -> None:
            self._check_role(run, cmd)
            run.reject(cmd.step_id, by=str(cmd.user_id), comment=cmd.comment, index=cmd.index)

        return self._command(
            cmd.tenant_id, cmd.run_id, reject, advance=True, expected_version=cmd.expected_version
        )

    def shred_run_data(
        self, tenant_id: UUID | str, run_id: UUID, retention_days: int | None = None
    ) -> bool:
        """Retention: record ``Run.DataShredded`` on a finished run, then destroy its data
        key (both idempotent: a second call records nothing). True if it recorded the event."""
        recorded = []

        def shred(run: Run) -> None:
            recorded.append(run.shred_data(retention_days))

        self._command(tenant_id, run_id, shred, advance=False)
        if self.subject_keys is not None:
            self.subject_keys.destroy(str(run_id), str(tenant_id), kind=RUN)
        return recorded[-1]

    # -- plumbing shared with the engine

    def save_runs(
        self,
        runs: Sequence[tuple[Run, Mapping[TaskKey, RunTask]]],
        changes: TaskChanges | None = None,
    ) -> list[Recording[UUID]]:
        """Save runs at once with their task changes (``before`` = tasks when loaded), plus
        ``changes`` (the saving worker's own: rows that outlived their attempt, leases)."""
        total = changes or TaskChanges()
        for run, before in runs:
            implied = task_changes(before, run_tasks(run))
            total = total.plus(implied.add, implied.done)
        return self.save_changes([run for run, _ in runs], total)

    def save_changes(self, runs: Sequence[Run], changes: TaskChanges) -> list[Recording[UUID]]:
        """Save runs with exactly these task changes (the recorder writes them with the
        events, in one transaction; the in-memory recorder ignores them). Child runs the
        saved runs abandon are cancelled in the same save (``LinkCommands.with_cascade``)."""
        everything, changes = self.with_cascade(runs, changes)
        return self.save(*everything, task_changes=changes)

    def _planner(self) -> RunPlanner:
        if self.planner is None:
            raise RuntimeError("this Runs application has no planner (the engine wires one)")
        return self.planner

    def _latest_start(self, tenant: str, workflow: str, key: str) -> tuple[int, Run.Started | None]:
        """The Started event of the latest run of this Idempotency-Key, and its generation.

        One single-row read per generation: a key taken again n times costs n + 1 reads.
        """
        generation, latest = 0, None
        while True:
            first = next(iter(self.events.get(
                run_id_for(tenant, workflow, key, generation), limit=1)), None)  # fmt: skip
            if not isinstance(first, Run.Started):
                return max(0, generation - 1), latest
            latest = first
            generation += 1

    @staticmethod
    def _same_start(run: Run, cmd: StartRun) -> Run:
        if run.input != cmd.input or run.workflow_id != str(cmd.workflow_id):
            raise IdempotencyKeyReusedError(run.id, cmd.idempotency_key or "")
        return run

    @staticmethod
    def _check_role(run: Run, cmd: DecideApproval) -> None:
        waiting = run.slot(cmd.step_id, cmd.index).get("waiting") or {}
        if waiting.get("kind") != "approval":
            return  # not waiting for a decision: the run's own check answers (409)
        role = waiting.get("role")
        # no role (a template that gave ""/null, an older run) is nobody's to approve
        held = {r.casefold() for r in cmd.roles}
        if not isinstance(role, str) or not role.strip() or role.strip().casefold() not in held:
            raise PermissionDeniedError(f"role:{role}", cmd.user_id)

    def _command(
        self,
        tenant_id: UUID | str,
        run_id: UUID,
        change: Callable[[Run], None],
        *,
        advance: bool,
        expected_version: int | None = None,
    ) -> Run:
        """Load, change, (advance), save with task changes; a concurrent write is retried.

        With ``expected_version`` (If-Match) the write is conditional: the run must be at that
        version when loaded *and* when saved. Either way a stale precondition is a
        ``StaleVersionError`` (412) and is never retried; without one, a clash is retried
        and only a run that keeps changing ends in a ``ConflictError`` (409).
        """
        for _ in range(5):
            run = self.get_run(tenant_id, run_id)
            if expected_version is not None and expected_version != run.version:
                raise StaleVersionError("run", run_id, expected_version, run.version)
            before = run_tasks(run)
            change(run)
            if advance and self.planner is not None:
                self.planner.advance(run, self.clock())
            try:
                self.save_runs([(run, before)])
            except IntegrityError:
                if expected_version is not None:  # the precondition failed at the save
                    current = self.get_run(tenant_id, run_id).version
                    raise StaleVersionError("run", run_id, expected_version, current) from None
                continue  # a worker saved this run meanwhile: the command is safe to redo
            return run
        raise ConflictError(
            f"run {run_id} is changing too fast, retry the request",
            resource_type="run",
            resource_id=run_id,
        )


register_moved_topics()
