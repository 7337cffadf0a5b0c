"""Executors: run step attempts on a thread pool and hand each result to the committer.

An attempt starts only while its lease is certainly held (checked immediately before the side
effect, ``Leases.still_held``); otherwise it is dropped, and another worker runs it under a
newer lease. Skills run under the step's timeout. Each attempt's wall time, by kind and outcome,
goes to the ``observe`` hook the composition root passes in (the step duration metric); with a
``tracer`` (tracing on) each attempt runs in its span (``engine.runtime.tracing``).
"""

from __future__ import annotations

import contextvars
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from uuid import UUID

from opentelemetry.trace import Tracer

from domain.runs.tasks import TaskKey
from engine.definition.dsl import SKILL_PREFIX, WORKFLOW_PREFIX
from engine.runtime.config import Counters
from engine.runtime.leases import Leases
from engine.runtime.ports import Claimed
from engine.runtime.tracing import attempt_span, traced
from engine.steps import (
    Failed,
    Kind,
    KindContext,
    Outcome,
    StartChild,
    StepCall,
    Succeeded,
    Waiting,
)  # fmt: skip
from engine.steps.skills import run_skill
from engine.steps.subworkflow import subworkflow

log = logging.getLogger(__name__)

StepObserver = Callable[[str, str, float], None]
"""(step kind, outcome, seconds): called once per attempt executed (``succeeded``, ``failed``
or ``waiting``); skills are reported as kind ``skill`` (a bounded label set)."""


@dataclass(frozen=True)
class Result:
    """An attempt's outcome, made under lease token ``token``, for the committer to save."""

    call: StepCall
    outcome: Outcome
    token: int | None

    @property
    def key(self) -> TaskKey:
        return self.call.key

    @property
    def run_id(self) -> UUID:
        return self.call.run_id

    @property
    def attempt(self) -> int:
        return self.call.attempt


Message = Claimed | Result
"""What the committer's inbox holds: leases to start, results to save."""


class Executor:
    """Runs attempts (``dispatch``) on ``concurrency`` threads; results go to ``inbox``."""

    def __init__(
        self,
        kinds: dict[str, Kind],
        ctx: KindContext,
        leases: Leases,
        inbox: queue.Queue[Message],
        counters: Counters,
        *,
        concurrency: int,
        worker_id: str,
        observe: StepObserver | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        self.kinds = kinds
        self.ctx = ctx
        self.leases = leases
        self.inbox = inbox
        self.counters = counters
        self.worker_id = worker_id
        self.observe = observe
        self.tracer = tracer  # None: no spans (docs/observability.md)
        self.pool = ThreadPoolExecutor(concurrency, thread_name_prefix="step")

    def dispatch(self, call: StepCall, token: int) -> None:
        self.pool.submit(self.execute, call, token)

    def shutdown(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    def execute(self, call: StepCall, token: int) -> None:
        started = time.monotonic()
        if self.tracer is None:  # tracing off: nothing of OpenTelemetry is called
            outcome = self.attempt(call, token)
        else:
            with attempt_span(self.tracer, call) as span:
                outcome = traced(span, self.attempt(call, token))
        self.leases.executed(call.key)  # before the committer may lease the key again (a retry)
        if outcome is not None:
            self.counters.add("steps_executed")
            self._observe(call, outcome, time.monotonic() - started)
            self.inbox.put(Result(call, outcome, token))
        self.leases.capacity.set()

    def attempt(self, call: StepCall, token: int) -> Outcome | None:
        """``run``, with a crash of the kind made a retryable failure."""
        try:
            return self.run(call, token)
        except Exception as e:
            log.exception("step %s crashed", call.idempotency_key)
            return Failed("error", f"{type(e).__name__}: {e}", True)

    def run(self, call: StepCall, token: int) -> Outcome | None:
        """The attempt's outcome; None if its lease ran out before it started (dropped)."""
        if not self.leases.still_held(call.key, token):  # immediately before the side effect
            self.counters.add("dropped_before_start")
            log.warning("worker %s: lease of %s (token %d) ran out before it started: dropped",
                        self.worker_id, call.idempotency_key, token)  # fmt: skip
            return None
        if call.uses.startswith(SKILL_PREFIX):
            return with_deadline(lambda: run_skill(call, self.ctx), call.timeout_s)
        if call.uses.startswith(WORKFLOW_PREFIX):
            return subworkflow(call, self.ctx)
        kind = self.kinds.get(call.uses)
        if kind is None:
            return Failed("unknown_kind", f"no step kind {call.uses!r} in this worker", False)
        return kind(call, self.ctx)

    def _observe(self, call: StepCall, outcome: Outcome, seconds: float) -> None:
        if self.observe is None:
            return
        kind = "skill" if call.uses.startswith(SKILL_PREFIX) else call.uses
        kind = "workflow" if kind.startswith(WORKFLOW_PREFIX) else kind
        match outcome:
            case Succeeded():
                label = "succeeded"
            case Waiting() | StartChild():
                label = "waiting"
            case _:
                label = "failed"
        try:
            self.observe(kind, label, seconds)
        except Exception:  # a metric must never cost a result
            log.exception("worker %s: the step observer failed", self.worker_id)


def with_deadline(fn: Callable[[], Outcome], timeout_s: float | None) -> Outcome:
    """Run ``fn``; past ``timeout_s`` the attempt fails with kind ``timeout`` (fn is abandoned)."""
    if not timeout_s:
        return fn()
    box: list[Outcome] = []

    def target() -> None:
        try:
            box.append(fn())
        except Exception as e:
            box.append(Failed("error", f"{type(e).__name__}: {e}", True))

    # in the caller's context: the attempt's span stays the current one (an HTTP skill's call)
    t = threading.Thread(target=contextvars.copy_context().run, args=(target,), daemon=True)
    t.start()
    t.join(timeout_s)
    if not box:
        return Failed("timeout", f"the attempt took longer than {timeout_s:g}s", True)
    return box[0]
