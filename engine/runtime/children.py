"""Child runs in the worker's batch: start one for a ``workflow:`` step, tell a parent of its end.

Start: the step's ``StartChild`` outcome becomes a new ``Run`` (id derived from the attempt's
idempotency key, so a repeated start clashes instead of starting twice) and the parent's
``StepWaiting(kind=workflow, child_run_id)``, both in the batch's one save. End: a child that
ended keeps a *report task* (``domain.runs.tasks``); the batch that claims it records
``ChildEnded`` on the parent (if it still waits) and ``ParentNotified`` on the child, again in
one save, so a worker killed at any point leaves either both or neither.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid5

from domain.kernel import validators as v
from domain.kernel.errors import ValidationError
from domain.kernel.ids import NAMESPACE
from domain.runs.links import MAX_DEPTH
from domain.runs.run import Run, StaleStepResultError
from engine.scheduling.planner import EnginePlanner
from engine.steps import StartChild, StepCall


def child_run_id(call: StepCall) -> UUID:
    """The child run an attempt starts: one per (run, step, item, attempt)."""
    return uuid5(NAMESPACE, f"child-run:{call.idempotency_key}")


def start_child(
    parent: Run,
    call: StepCall,
    spec: StartChild,
    planner: EnginePlanner,
    now: datetime,
    *,
    worker_id: str,
    token: int | None,
) -> Run | None:
    """Record the parent step waiting for a new child run and return the child (unsaved), or
    record the step's failure (too deep, an input the child refuses) and return None."""
    sid, index, attempt = call.step_id, call.index, call.attempt
    if parent.slot(sid, index).get("waiting"):  # a repeated result of an attempt that waits
        raise StaleStepResultError(parent.id, sid, index, attempt, "it waits for its child")

    def fail(kind: str, message: str) -> None:
        parent.fail_step(sid, index, attempt, error_kind=kind, message=message, retryable=False,
                         worker_id=worker_id, token=token)  # fmt: skip

    depth = parent.depth + 1
    if depth > MAX_DEPTH:
        fail("depth", f"{call.uses}: runs nest at most {MAX_DEPTH} levels deep (a cycle?)")
        return None
    schema = spec.definition.get("input_schema")
    problems = v.schema_problems(spec.input, schema, "/with") if isinstance(schema, dict) else []
    if problems:
        first = problems[0]
        fail("invalid_input", f"{call.uses}: the child's input at {first.pointer}: {first.message}")
        return None
    try:
        prepared = planner.prepare(spec.definition)
    except ValidationError as e:
        fail("invalid_input", f"{call.uses}: {e}")
        return None
    child_id = child_run_id(call)
    link = {"run_id": str(parent.id), "step_id": sid, "index": index, "attempt": attempt}
    child = Run.start(
        tenant_id=parent.tenant_id, workflow_id=spec.workflow_id,
        workflow_version=spec.workflow_version, definition_hash=prepared.hash,
        step_ids=prepared.step_ids, input=spec.input, started_by=parent.started_by,
        idempotency_key=call.idempotency_key, run_id=child_id, started_at=now,
        parent=link, depth=depth, traceparent=spec.traceparent or parent.traceparent,
    )  # fmt: skip
    parent.wait_step(sid, index, attempt, kind="workflow", until=spec.until, worker_id=worker_id,
                     token=token, child_run_id=str(child_id))  # fmt: skip
    return child


def report(child: Run, parent: Run | None) -> bool:
    """Tell ``parent`` (None: it is gone) that ``child`` ended; True if a step still waited."""
    link = child.parent or {}
    waiting = parent is not None and (
        parent.waits_for_child(str(link.get("step_id")), link.get("index"), child.id) is not None
    )
    if waiting and parent is not None:
        parent.end_child(child)
    child.notify_parent(delivered=waiting)
    return waiting
