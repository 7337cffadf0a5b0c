"""What the tests of run links share (sub-workflows, signals, reruns): an API container's
projector (workflow names are resolved through the read model), an in-process worker, a tenant,
and helpers to make workflows and start and watch runs."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from domain.runs.application import StartRun
from domain.runs.run import Run
from tests.support.polling import wait_until


@dataclass
class Linked:
    container: Any
    worker: Any
    tenant_id: uuid.UUID
    admin_id: uuid.UUID

    def start_worker(self) -> None:
        from api.background import start_worker
        from engine.runtime.worker import WorkerConfig

        self.worker = start_worker(self.container, WorkerConfig(concurrency=16, lease_s=5.0))

    def stop_worker(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.container.background.remove(self.worker)
            self.worker = None

    @property
    def runs(self) -> Any:
        return self.container.runs

    def workflow(self, definition: dict[str, Any], name: str | None = None) -> tuple[Any, str]:
        """An active workflow (projected, so that ``workflow:<name>`` finds it): (id, name)."""
        from domain.workflows.commands import CreateWorkflow

        name = name or f"wf-{uuid.uuid4().hex[:8]}"
        made = self.container.platform.create_workflow(
            CreateWorkflow(tenant_id=self.tenant_id, name=name, definition=definition,
                           created_by=self.admin_id)
        )  # fmt: skip
        self.container.platform.activate_workflow(self.tenant_id, made.id)
        self.container.wait_caught_up("platform")
        return made.id, name

    def start(self, workflow_id: Any, input: Any = None) -> Run:
        workflow = self.container.platform.get_workflow(self.tenant_id, workflow_id)
        return self.runs.start_run(  # type: ignore[no-any-return]
            StartRun(tenant_id=self.tenant_id, workflow_id=workflow_id,
                     workflow_version=workflow.current_version, definition=workflow.definition,
                     input=input if input is not None else {}, started_by=self.admin_id)
        )  # fmt: skip

    def run(self, run_id: Any) -> Run:
        return self.runs.get_run(self.tenant_id, run_id)  # type: ignore[no-any-return]

    def wait(
        self, run_id: Any, check: Callable[[Run], Any] | None = None, timeout: float = 30
    ) -> Run:
        """The run once ``check`` holds (default: once it ended)."""

        def ready() -> Run | None:
            run = self.run(run_id)
            return run if (check(run) if check else run.is_done) else None

        found: Run = wait_until(ready, timeout, message=f"run {run_id}")
        return found


def linked_engine(container: Any) -> Iterator[Linked]:
    from domain.identity.commands import CreateTenant

    made = container.platform.create_tenant(
        CreateTenant(name="Links", slug=f"links-{uuid.uuid4().hex[:8]}",
                     admin_email="ada@links-example.com", admin_password="correct horse battery")
    )  # fmt: skip
    linked = Linked(container, None, made.tenant.id, made.admin.id)
    linked.start_worker()
    try:
        yield linked
    finally:
        linked.stop_worker()
