"""Read-model handlers of the Run aggregate (``domain/runs/run.py``): ``runs`` and ``run_steps``.

Each handler mirrors the event's ``apply`` in ``domain.runs.run.Run``: a step's row (item_index
NULL) or a foreach item's row (item_index n) takes the same values as the aggregate's slot.
"""

from __future__ import annotations

from typing import Any

from domain.kernel.shredding import ERASED
from projections.batch import Cursor
from projections.jsonutil import jsonb, text
from projections.readmodel.handlers import on


def _run(curs: Cursor, e: Any, sets: dict[str, Any]) -> None:
    cols = {**sets, "version": e.originator_version, "updated_at": e.timestamp}
    assignments = ", ".join(f"{k} = %s" for k in cols)
    curs.execute(f"UPDATE runs SET {assignments} WHERE id = %s", (*cols.values(), e.originator_id))


def _step(curs: Cursor, e: Any, sets: dict[str, Any], *, raw: str = "") -> None:
    """UPDATE the event's slot; ``raw`` adds SQL assignments that take no parameters."""
    cols = {**sets, "version": e.originator_version, "updated_at": e.timestamp}
    assignments = ", ".join([f"{k} = %s" for k in cols] + ([raw] if raw else []))
    curs.execute(
        f"UPDATE run_steps SET {assignments}"
        " WHERE run_id = %s AND step_id = %s AND item_index IS NOT DISTINCT FROM %s",
        (*cols.values(), e.originator_id, e.step_id, e.index),
    )
    # the run's own version/updated_at: once per batch, see ReadModelProjection.apply


@on("Run.Started")
def _started(curs: Cursor, e: Any) -> None:
    parent = getattr(e, "parent", None) or {}  # links are absent from older events
    curs.execute(
        "INSERT INTO runs (id, tenant_id, workflow_id, workflow_version, definition_hash,"
        " status, input, started_by, idempotency_key, version, created_at, updated_at,"
        " parent_run_id, parent_step_id, parent_item_index, depth, rerun_of, trigger)"
        " VALUES (%s, %s, %s, %s, %s, 'running', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            e.originator_id, e.tenant_id, e.workflow_id, e.workflow_version, e.definition_hash,
            jsonb(e.input), text(e.started_by), e.idempotency_key, e.originator_version,
            e.timestamp, e.timestamp, parent.get("run_id"), parent.get("step_id"),
            parent.get("index"), getattr(e, "depth", 0) or 0, getattr(e, "rerun_of", None),
            jsonb(getattr(e, "trigger", None)),
        ),
    )  # fmt: skip
    curs.executemany(
        "INSERT INTO run_steps (tenant_id, run_id, step_id, version, updated_at)"
        " VALUES (%s, %s, %s, %s, %s)",
        [
            (e.tenant_id, e.originator_id, sid, e.originator_version, e.timestamp)
            for sid in e.step_ids
        ],
    )


@on("Run.StepScheduled")
def _scheduled(curs: Cursor, e: Any) -> None:
    _step(curs, e, {
        "status": "scheduled", "attempt": e.attempt, "input": jsonb(e.input),
        "not_before": e.not_before, "error": None,
    })  # fmt: skip


@on("Run.RetryScheduled")
def _retry(curs: Cursor, e: Any) -> None:
    _step(curs, e, {
        "status": "scheduled", "attempt": e.attempt, "not_before": e.not_before,
        "worker_id": None, "lease_until": None,
    })  # fmt: skip


@on("Run.StepStarted")
def _step_started(curs: Cursor, e: Any) -> None:
    _step(curs, e, {
        "status": "running", "worker_id": text(e.worker_id), "lease_until": e.lease_until,
        "not_before": None,
    })  # fmt: skip


@on("Run.StepWaiting")
def _waiting(curs: Cursor, e: Any) -> None:
    waiting = {"kind": e.kind, "until": e.until, "role": e.role}
    for extra in ("name", "child_run_id"):  # signal and workflow steps (absent before them)
        if getattr(e, extra, None) is not None:
            waiting[extra] = getattr(e, extra)
    _step(curs, e, {"lease_until": None, "waiting": jsonb(waiting)})


@on("Run.StepSucceeded")
def _step_succeeded(curs: Cursor, e: Any) -> None:
    _step(curs, e, {
        "status": "succeeded", "output": jsonb(e.output), "error": None, "waiting": None,
        "lease_until": None,
    })  # fmt: skip


@on("Run.StepFailed")
def _step_failed(curs: Cursor, e: Any) -> None:
    error = {"kind": e.error_kind, "message": e.message, "retryable": e.retryable}
    if getattr(e, "retry_after_s", None) is not None:  # the target's Retry-After (http)
        error["retry_after_s"] = e.retry_after_s
    _step(
        curs, e,
        {"status": "failed", "attempt": e.attempt, "waiting": None, "failed_at": e.timestamp,
         "lease_until": None, "error": jsonb(error)},
        raw="lost = lost + 1" if e.error_kind == "lease_expired" else "",
    )  # fmt: skip


@on("Run.StepSkipped")
def _step_skipped(curs: Cursor, e: Any) -> None:
    _step(curs, e, {"status": "skipped", "reason": text(e.reason)})


@on("Run.StepCancelled")
def _step_cancelled(curs: Cursor, e: Any) -> None:
    _step(curs, e, {"status": "cancelled", "reason": text(e.reason), "waiting": None})
    if e.index is None:  # its unfinished foreach items go with it
        curs.execute(
            "UPDATE run_steps SET status = 'cancelled', reason = %s, version = %s,"
            " updated_at = %s WHERE run_id = %s AND step_id = %s AND item_index IS NOT NULL"
            " AND status NOT IN ('succeeded', 'failed', 'skipped', 'cancelled')",
            (text(e.reason), e.originator_version, e.timestamp, e.originator_id, e.step_id),
        )


@on("Run.ForeachExpanded")
def _foreach(curs: Cursor, e: Any) -> None:
    _step(curs, e, {"status": "running", "attempt": 1, "item_values": jsonb(e.items)})
    curs.execute("SELECT tenant_id FROM runs WHERE id = %s", (e.originator_id,))
    row = curs.fetchone()
    if row is None:
        return
    curs.executemany(
        "INSERT INTO run_steps (tenant_id, run_id, step_id, item_index, version, updated_at)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        [
            (row["tenant_id"], e.originator_id, e.step_id, i, e.originator_version, e.timestamp)
            for i in range(e.count)
        ],
    )


@on("Run.Approved")
def _approved(curs: Cursor, e: Any) -> None:
    output = {"approved": True, "by": e.by, "comment": e.comment}
    _step(curs, e, {"status": "succeeded", "waiting": None, "output": jsonb(output)})


@on("Run.Rejected")
def _rejected(curs: Cursor, e: Any) -> None:
    note = f": {e.comment}" if e.comment else ""
    error = {"kind": "rejected", "message": f"rejected by {e.by}{note}", "retryable": False}
    _step(curs, e, {
        "status": "failed", "waiting": None, "failed_at": e.timestamp, "error": jsonb(error),
    })  # fmt: skip


@on("Run.Paused")
def _paused(curs: Cursor, e: Any) -> None:
    _run(curs, e, {"status": "paused"})


@on("Run.Resumed")
def _resumed(curs: Cursor, e: Any) -> None:
    _run(curs, e, {"status": "running"})


@on("Run.Succeeded")
def _succeeded(curs: Cursor, e: Any) -> None:
    _run(curs, e, {"status": "succeeded", "output": jsonb(e.output), "ended_at": e.timestamp})


@on("Run.Failed", "Run.Cancelled")
def _ended(curs: Cursor, e: Any) -> None:
    status = "failed" if type(e).__qualname__ == "Run.Failed" else "cancelled"
    _run(curs, e, {"status": status, "reason": text(e.reason), "ended_at": e.timestamp})


@on("Run.ChildEnded")
def _child_ended(curs: Cursor, e: Any) -> None:
    if e.status == "succeeded":
        _step(curs, e, {"status": "succeeded", "waiting": None, "output": jsonb(e.output),
                        "error": None})  # fmt: skip
        return
    error = {"kind": e.error_kind or "child_failed", "message": e.message or "",
             "retryable": e.retryable}  # fmt: skip
    _step(curs, e, {"status": "failed", "waiting": None, "failed_at": e.timestamp,
                    "error": jsonb(error)})  # fmt: skip


@on("Run.Signalled")
def _signalled(curs: Cursor, e: Any) -> None:
    if e.step_id is None:  # buffered: only the run's version moves
        _run(curs, e, {})
        return
    _step(curs, e, {"status": "succeeded", "waiting": None, "output": jsonb(e.payload)})


@on("Run.SignalTaken")
def _signal_taken(curs: Cursor, e: Any) -> None:
    _step(curs, e, {"status": "succeeded", "waiting": None, "output": jsonb(e.payload)})


@on("Run.StepReused")
def _reused(curs: Cursor, e: Any) -> None:
    _step(curs, e, {"status": "succeeded", "output": jsonb(e.output),
                    "reused_from": e.reused_from})  # fmt: skip


@on("Run.ParentNotified")
def _parent_notified(curs: Cursor, e: Any) -> None:
    _run(curs, e, {})  # nothing to show but the run's version (its ETag) moves


_ERASED_JSON = "CASE WHEN {c} IS NULL THEN NULL ELSE to_jsonb(%(erased)s::text) END"


@on("Run.DataShredded")
def _data_shredded(curs: Cursor, e: Any) -> None:
    """Retention reaches the read model: the run's data reads ``[erased]`` in ``runs`` and
    ``run_steps``, as it does in the aggregate (``domain.runs.run_data.erase_state``)."""
    params = {"erased": ERASED, "run": e.originator_id}
    curs.execute(
        f"UPDATE runs SET input = {_ERASED_JSON.format(c='input')},"
        f" output = {_ERASED_JSON.format(c='output')},"
        " reason = CASE WHEN reason IS NULL THEN NULL ELSE %(erased)s END WHERE id = %(run)s",
        params,
    )
    curs.execute(
        f"UPDATE run_steps SET input = {_ERASED_JSON.format(c='input')},"
        f" output = {_ERASED_JSON.format(c='output')},"
        f" item_values = {_ERASED_JSON.format(c='item_values')},"
        " error = CASE WHEN error ? 'message'"
        " THEN jsonb_set(error, '{message}', to_jsonb(%(erased)s::text)) ELSE error END"
        " WHERE run_id = %(run)s",
        params,
    )
    _run(curs, e, {})
