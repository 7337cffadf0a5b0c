"""Drive a Run through the scheduler the way a worker would: result -> advance -> (save)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from domain.runs.run import Run
from engine.definition.compiled import CompiledDefinition
from engine.scheduling.decisions import Decision, ScheduleStep
from engine.scheduling.scheduler import RunView, advance, decide

T0 = datetime(2030, 1, 1, tzinfo=UTC)
RUN_ID = UUID("00000000-0000-4000-8000-000000000001")


def definition(*steps: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": "test", "steps": list(steps), **extra}


class Harness:
    """A run of `data`, advanced after every command."""

    def __init__(self, data: dict[str, Any], input: Any = None, now: datetime = T0) -> None:
        self.compiled = CompiledDefinition.of(data)
        self.now = now
        self.run = Run.start(
            tenant_id="t1", workflow_id="wf", workflow_version=1,
            definition_hash=self.compiled.hash, step_ids=self.compiled.step_ids,
            input=input if input is not None else {}, started_by="u1", run_id=RUN_ID,
        )  # fmt: skip
        self.log: list[Decision] = []
        self.advance()

    def advance(self) -> list[Decision]:
        made = advance(self.run, self.compiled, self.now)
        self.log.extend(made)
        return made

    def decide(self) -> list[Decision]:
        return decide(RunView.of(self.run), self.compiled, self.now)

    def status(self, step_id: str, index: int | None = None) -> str:
        return str(self.run.slot(step_id, index)["status"])

    def statuses(self) -> dict[str, str]:
        return {sid: slot["status"] for sid, slot in self.run.steps.items()}

    def scheduled(self) -> list[tuple[str, int | None]]:
        """Attempts in status scheduled, in definition order."""
        out = []
        for sid, slot in self.run.steps.items():
            if slot["status"] == "scheduled":
                out.append((sid, None))
            for i, item in enumerate(slot.get("items") or ()):
                if item["status"] == "scheduled":
                    out.append((sid, i))
        return out

    def succeed(self, step_id: str, output: Any = None, index: int | None = None) -> list[Decision]:
        attempt = self.run.slot(step_id, index)["attempt"]
        self.run.complete_step(step_id, index, attempt, output, worker_id="w1")
        return self.advance()

    def fail(
        self,
        step_id: str,
        kind: str = "boom",
        *,
        retryable: bool = False,
        index: int | None = None,
        retry_after_s: float | None = None,
    ) -> list[Decision]:
        attempt = self.run.slot(step_id, index)["attempt"]
        self.run.fail_step(
            step_id,
            index,
            attempt,
            error_kind=kind,
            message=f"{step_id} broke",
            retryable=retryable,
            retry_after_s=retry_after_s,
        )
        return self.advance()

    def scheduled_inputs(self) -> dict[tuple[str, int | None], Any]:
        return {(d.step_id, d.index): d.input for d in self.log if isinstance(d, ScheduleStep)}
