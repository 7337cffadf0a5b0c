"""The ``workflow:<name>[@<version>]`` kind: resolve the tenant's active workflow of that name.

Executing the step only finds the workflow (the read model names it, its aggregate says whether
it is active and gives the definition version); the child run itself is started by the worker
in the save that records the step waiting for it (``engine.runtime.children``), so the child
exists exactly when its parent waits for it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Protocol
from uuid import UUID

from domain.kernel.errors import NotFoundError
from engine.definition.dsl import parse_workflow_uses
from engine.steps import Failed, KindContext, Outcome, StartChild, StepCall

UNAVAILABLE = "workflow_unavailable"


class WorkflowCatalog(Protocol):
    """The port to the read model: which workflows of a tenant bear a name."""

    def named(self, tenant_id: UUID, name: str) -> list[UUID]:
        """Ids of the tenant's workflows called ``name`` that are not archived."""
        ...


def subworkflow(call: StepCall, ctx: KindContext) -> Outcome:
    """A ``StartChild`` for the named workflow's version, or why it cannot start."""
    parsed = parse_workflow_uses(call.uses)
    if parsed is None or ctx.workflows is None or ctx.platform is None:
        return Failed(UNAVAILABLE, f"{call.uses}: sub-workflows are not available here", False)
    name, version = parsed
    tenant = UUID(call.tenant_id)
    active = []
    for workflow_id in ctx.workflows.named(tenant, name):
        try:
            workflow = ctx.platform.get_workflow(tenant, workflow_id)
        except NotFoundError:
            continue
        if workflow.status == "active":
            active.append(workflow)
    if len(active) != 1:
        why = "no active workflow" if not active else f"{len(active)} active workflows"
        return Failed(UNAVAILABLE, f"{call.uses}: {why} named {name!r}", not active)
    workflow = active[0]
    pinned = version or int(workflow.current_version)
    definition = workflow.definition_at(pinned)
    if definition is None:
        return Failed(UNAVAILABLE, f"{call.uses}: workflow {name!r} has no version {pinned}", False)
    until = call.now + timedelta(seconds=call.timeout_s) if call.timeout_s else None
    return StartChild(str(workflow.id), pinned, definition, call.input, until)
