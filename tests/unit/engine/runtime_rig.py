"""A worker on the in-memory queue, driven step by step (no threads): claim, commit, execute."""

from __future__ import annotations

import uuid
from typing import Any

from domain.runs.application import StartRun
from domain.runs.run import Run
from engine.runtime.config import WorkerConfig
from engine.runtime.worker import Worker
from engine.scheduling.planner import EnginePlanner
from engine.steps import StepCall
from tests.unit.engine.fakes import FakeSession, FakeTaskStore, InMemoryRuns


def steps(*specs: dict[str, Any]) -> dict[str, Any]:
    return {"name": "rig", "steps": list(specs)}


class Rig:
    """One worker (``w1``) and its queue; ``dispatched`` holds the attempts it would start."""

    def __init__(self, *, inline: tuple[str, ...] = (), observe: Any = None, **config: Any):
        self.store = FakeTaskStore()
        self.planner = EnginePlanner(inline_kinds=inline)
        self.runs = InMemoryRuns(self.store, planner=self.planner)
        settings = {"worker_id": "w1", "concurrency": 4, "lease_s": 30.0, "idle_s": 0.01,
                    **config}  # fmt: skip
        self.worker = Worker(self.runs, self.planner, self.store,
                             config=WorkerConfig(**settings), observe=observe)  # fmt: skip
        self.dispatched: list[tuple[StepCall, int]] = []
        self.worker.committer.batches.dispatch = lambda c, t: self.dispatched.append((c, t))
        self.session: FakeSession = self.store.session()

    def start(self, definition: dict[str, Any], input: Any = None) -> Run:
        return self.runs.start_run(StartRun(
            tenant_id="t1", workflow_id=uuid.uuid4(), workflow_version=1, definition=definition,
            input={} if input is None else input, started_by="u1"))  # fmt: skip

    def run(self, run_id: uuid.UUID) -> Run:
        return self.runs.load(run_id)

    def claim(self) -> None:
        self.worker.claimer.claim_once(self.session)

    def commit(self) -> bool:
        msgs = []
        while not self.worker.inbox.empty():
            msgs.append(self.worker.inbox.get_nowait())
        if msgs:
            self.worker.committer.handle(msgs)
        return bool(msgs)

    def execute(self) -> bool:
        calls, self.dispatched = self.dispatched, []
        for call, token in calls:
            self.worker.executor.execute(call, token)
        return bool(calls)

    def pump(self, rounds: int = 50) -> None:
        """Claim, commit and execute until nothing moves."""
        for _ in range(rounds):
            self.claim()
            moved = self.commit()
            moved = self.execute() or moved
            moved = self.commit() or moved
            if not moved:
                return
