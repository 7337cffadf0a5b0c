"""Commands and queries for workflows and their definition versions."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from domain.kernel import validators as v
from domain.kernel.application import PlatformBase, precondition
from domain.kernel.errors import Problem, ValidationError
from domain.workflows.commands import CreateWorkflow, UpdateDefinition
from domain.workflows.workflow import Workflow


def _under_definition(pointer: str) -> str:
    if not pointer:
        return "/definition"
    return "/definition" + (pointer if pointer.startswith("/") else "/" + pointer)


class WorkflowCommands(PlatformBase):
    """Workflows: drafts, new definition versions and the status lifecycle."""

    def validate_definition(self, tenant_id: UUID, definition: Any) -> list[Problem]:
        """Problems with a definition, pointers under ``/definition``; [] means valid."""
        try:
            checked = v.json_object(definition, "/definition")
        except ValidationError as e:
            return e.problems
        problems = [
            Problem(_under_definition(pointer), message)
            for pointer, message in self.definition_validator(checked, tenant_id)
        ]
        return problems + self._approval_role_problems(checked)

    def _approval_role_problems(self, definition: dict[str, Any]) -> list[Problem]:
        """An ``approval`` step's literal ``with.role`` must name a known role (built-in or
        custom), in any case; templated roles are checked when a decision is made."""
        steps = definition.get("steps")
        known = getattr(self, "is_known_role", None)
        if not isinstance(steps, list) or known is None:
            return []
        problems: list[Problem] = []
        for i, step in enumerate(steps):
            if not isinstance(step, dict) or step.get("uses") != "approval":
                continue
            given = step.get("with")
            role = given.get("role") if isinstance(given, dict) else None
            if isinstance(role, str) and role.strip() and "${{" not in role and not known(role):
                problems.append(
                    Problem(f"/definition/steps/{i}/with/role", f"{role!r} is not a known role")
                )
        return problems

    def _checked_definition(self, tenant_id: UUID, definition: Any, c: v.Checks) -> Any:
        problems = self.validate_definition(tenant_id, definition)
        c.extend(problems)
        return definition

    def create_workflow(self, cmd: CreateWorkflow) -> Workflow:
        """A new draft workflow at definition version 1."""
        c = v.Checks()
        name = c.run(v.name, cmd.name, "/name")
        definition = self._checked_definition(cmd.tenant_id, cmd.definition, c)
        c.done()
        workflow = Workflow(
            tenant_id=cmd.tenant_id,
            name=name,
            definition=v.json_object(definition, "/definition"),
            created_by=cmd.created_by,
            created_at=self.now(),
        )
        self._save(workflow)
        return workflow

    def get_workflow(self, tenant_id: UUID, workflow_id: UUID) -> Workflow:
        return self._load_scoped(Workflow, tenant_id, workflow_id, "workflow")

    def update_definition(self, cmd: UpdateDefinition) -> Workflow:
        """Append a definition version; ``expected_version`` (If-Match) must be current. A bad
        definition is refused first (422), before the workflow is looked up (404) or its
        version compared (412): what is wrong with the input is said whatever the state."""
        c = v.Checks()
        definition = self._checked_definition(cmd.tenant_id, cmd.definition, c)
        c.done()
        definition = v.json_object(definition, "/definition")
        workflow = self.get_workflow(cmd.tenant_id, cmd.workflow_id)
        self._check_version(workflow, cmd.expected_version, "workflow")
        workflow.update_definition(definition, updated_by=cmd.updated_by, at=self.now())
        self._save(workflow, precondition=precondition(cmd.expected_version, "workflow"))
        return workflow

    def rename_workflow(self, tenant_id: UUID, workflow_id: UUID, name: str) -> Workflow:
        checked = v.name(name, "/name")
        workflow = self.get_workflow(tenant_id, workflow_id)
        workflow.rename(checked)
        self._save(workflow)
        return workflow

    def activate_workflow(
        self, tenant_id: UUID, workflow_id: UUID, *, expected_version: int | None = None
    ) -> Workflow:
        workflow = self.get_workflow(tenant_id, workflow_id)
        self._check_version(workflow, expected_version, "workflow")
        workflow.activate()
        self._save(workflow, precondition=precondition(expected_version, "workflow"))
        return workflow

    def pause_workflow(
        self, tenant_id: UUID, workflow_id: UUID, *, expected_version: int | None = None
    ) -> Workflow:
        workflow = self.get_workflow(tenant_id, workflow_id)
        self._check_version(workflow, expected_version, "workflow")
        workflow.pause()
        self._save(workflow, precondition=precondition(expected_version, "workflow"))
        return workflow

    def archive_workflow(
        self, tenant_id: UUID, workflow_id: UUID, *, expected_version: int | None = None
    ) -> Workflow:
        workflow = self.get_workflow(tenant_id, workflow_id)
        self._check_version(workflow, expected_version, "workflow")
        workflow.archive()
        self._save(workflow, precondition=precondition(expected_version, "workflow"))
        return workflow
