"""The Run aggregate's guards: which commands fit the run's state, and fencing of results."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

from domain.runs.status import RunStateError, StaleStepResultError, StepStatus


class RunGuards:
    """Checks the ``Run`` commands make before they record anything (a mixin of ``Run``)."""

    if TYPE_CHECKING:  # what the mixin uses of ``Run``
        id: UUID
        status: str
        StepStarted: Any

        @property
        def is_done(self) -> bool: ...

        def slot(self, step_id: str, index: int | None = None) -> dict[str, Any]: ...

        def trigger_event(self, event_class: Any, **kwargs: Any) -> None: ...

    def _require(self, condition: bool, message: str) -> None:
        if not condition:
            raise RunStateError(self.id, message)

    def _active_slot(
        self, step_id: str, index: int | None, allowed: set[StepStatus]
    ) -> dict[str, Any]:
        self._require(not self.is_done, f"the run is {self.status}")
        slot = self.slot(step_id, index)
        if slot["status"] not in allowed:
            where = step_id if index is None else f"{step_id}[{index}]"
            raise RunStateError(self.id, f"step {where} is {slot['status']}")
        return slot

    def _current_attempt(
        self, step_id: str, index: int | None, attempt: int, allowed: set[StepStatus]
    ) -> dict[str, Any]:
        if self.is_done:
            raise StaleStepResultError(
                self.id, step_id, index, attempt, f"the run is {self.status}"
            )
        slot = self.slot(step_id, index)
        if slot["attempt"] != attempt or slot["status"] not in allowed:
            why = f"the step is {slot['status']} at attempt {slot['attempt']}"
            raise StaleStepResultError(self.id, step_id, index, attempt, why)
        return slot

    def _implicit_start(
        self, step_id: str, index: int | None, attempt: int, worker_id: str, token: int | None
    ) -> None:
        """Fencing: a result made under ``token`` is stale if the attempt was started since
        under a larger token (its lease was lost and the attempt claimed again). A result
        without a token (inline kinds, approvals) is not fenced."""
        slot = self._current_attempt(
            step_id, index, attempt, {StepStatus.SCHEDULED, StepStatus.RUNNING}
        )
        held = slot.get("token") if slot["status"] == StepStatus.RUNNING else None
        if token is not None and held is not None and token < held:
            why = f"fencing token {token} is stale: the attempt was claimed again ({held})"
            raise StaleStepResultError(self.id, step_id, index, attempt, why)
        if slot["status"] == StepStatus.SCHEDULED or (
            token is not None and held is not None and token > held
        ):
            self.trigger_event(
                self.StepStarted, step_id=step_id, index=index, attempt=attempt,
                worker_id=worker_id, lease_until=None, token=token,
            )  # fmt: skip

    def _waiting_approval(self, step_id: str, index: int | None) -> None:
        slot = self._active_slot(step_id, index, {StepStatus.RUNNING})
        waiting = slot["waiting"]
        if not waiting or waiting["kind"] != "approval":
            raise RunStateError(self.id, f"step {step_id} is not waiting for an approval")
