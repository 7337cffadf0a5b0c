"""Which fields of a run's events are its data, sealed under the run's own key (retention).

A run is a data subject of kind ``"run"`` (``domain.kernel.personal_data``): its input, the
inputs its steps were given (the ``with:`` values resolved), their outputs, its output, and
the error texts that may quote them are stored as tokens under a data key of the run, made
when it starts. Retention (docs/erasure.md, "Retention") destroys that key once the run is
older than the tenant's ``retention.run_data_days``; ``Run.DataShredded`` records it.
"""

from __future__ import annotations

from typing import Any

from domain.kernel.personal_data import RULES, RUN, Rule, originator, replace_at
from domain.kernel.shredding import ERASED

_STEP = ("input", "output", "error.message", "item_values")
STATE_PATHS: tuple[str, ...] = (
    "input", "output", "reason", "signals.*.payload",
    *(f"steps.*.{p}" for p in _STEP), *(f"steps.*.items.*.{p}" for p in _STEP),
)  # fmt: skip
"""The run's data in the aggregate's state (a snapshot's ``state``)."""


def _run(*paths: str) -> Rule:
    return Rule(originator, paths, RUN)


RUN_DATA_RULES: dict[str, Rule] = {
    "Run.Started": _run("input"),
    "Run.StepScheduled": _run("input"),
    "Run.StepSucceeded": _run("output"),
    "Run.StepFailed": _run("message"),
    "Run.ForeachExpanded": _run("items"),
    "Run.Succeeded": _run("output"),
    "Run.Failed": _run("reason"),
    "Run.ChildEnded": _run("output", "message"),
    "Run.Signalled": _run("payload"),
    "Run.SignalTaken": _run("payload"),
    "Run.StepReused": _run("output"),
    "Run.Snapshot": _run(*(f"state.{p}" for p in STATE_PATHS)),
}
"""Run data, by event; not sealed: ids, statuses, times, step ids, error kinds, a cancel's
reason, approvers and their comments, signal names, the trigger (docs/erasure.md)."""

SEALING_RULES: dict[str, Rule] = {**RULES, **RUN_DATA_RULES}
"""What the ``Runs`` application seals: the actors' personal data and the runs' data."""


def erase_state(state: dict[str, Any]) -> None:
    """Every run datum of an aggregate's state reads ``[erased]`` (``Run.DataShredded``)."""
    for path in STATE_PATHS:
        replace_at(state, path.split("."), lambda _value: ERASED)
