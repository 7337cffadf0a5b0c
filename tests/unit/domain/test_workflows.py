"""Workflow rules: validated definitions, append-only versions, If-Match, lifecycle."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import pytest

from domain.identity.commands import CreateRole, CreateTenant
from domain.kernel.errors import (
    ConflictError,
    NotFoundError,
    Problem,
    StaleVersionError,
    TransitionError,
    ValidationError,
)
from domain.platform import Platform
from domain.workflows.commands import CreateWorkflow, UpdateDefinition

DEFINITION = {"steps": [{"id": "a", "kind": "echo"}]}


class FakeDefinitionValidator:
    """Rejects definitions without steps; remembers the tenants it was asked about."""

    def __init__(self) -> None:
        self.tenants: list[UUID] = []

    def __call__(self, definition: dict[str, Any], tenant_id: UUID) -> list[Problem]:
        self.tenants.append(tenant_id)
        if definition.get("steps"):
            return []
        return [Problem("/steps", "at least one step"), Problem("", "bad")]


@pytest.fixture
def validator() -> FakeDefinitionValidator:
    return FakeDefinitionValidator()


@pytest.fixture
def app(make_app, validator: FakeDefinitionValidator) -> Platform:
    return make_app(definition_validator=validator)


@pytest.fixture
def tenant_id(app: Platform) -> UUID:
    return app.create_tenant(CreateTenant(name="Acme", slug="acme")).tenant.id


def create(app: Platform, tenant_id: UUID, definition: Any = DEFINITION) -> Any:
    return app.create_workflow(
        CreateWorkflow(tenant_id=tenant_id, name="Onboarding", definition=definition)
    )


def test_new_workflow_is_a_draft_at_definition_version_1(
    app: Platform, tenant_id: UUID, validator: FakeDefinitionValidator, clock
) -> None:
    workflow = create(app, tenant_id)
    assert (workflow.status, workflow.current_version, workflow.tenant_id) == (
        "draft",
        1,
        tenant_id,
    )
    assert workflow.versions[0]["created_at"] == clock.now
    assert workflow.definition == DEFINITION
    assert validator.tenants == [tenant_id]
    (event,) = app.events.get(workflow.id)
    assert type(event).__qualname__ == "Workflow.Created"


def test_definition_problems_are_reported_under_definition_and_nothing_is_stored(
    app: Platform, tenant_id: UUID, stored
) -> None:
    before = stored()
    with pytest.raises(ValidationError) as err:
        app.create_workflow(CreateWorkflow(tenant_id=tenant_id, name="x", definition={}))
    assert err.value.problems == [
        ("/name", "must be at least 2 characters"),
        ("/definition/steps", "at least one step"),
        ("/definition", "bad"),
    ]
    with pytest.raises(ValidationError) as err:
        create(app, tenant_id, definition=["not", "an", "object"])
    assert err.value.problems[0][0] == "/definition"
    assert stored() == before


def test_validate_definition_without_saving(app: Platform, tenant_id: UUID, stored) -> None:
    before = stored()
    assert app.validate_definition(tenant_id, DEFINITION) == []
    assert app.validate_definition(tenant_id, {})[0] == ("/definition/steps", "at least one step")
    assert stored() == before


def test_update_definition_appends_a_version(app: Platform, tenant_id: UUID) -> None:
    workflow = create(app, tenant_id)
    second = {"steps": [{"id": "b", "kind": "echo"}]}
    updated = app.update_definition(
        UpdateDefinition(tenant_id, workflow.id, second, expected_version=workflow.version)
    )
    assert updated.current_version == 2
    assert updated.definition == second
    assert updated.definition_at(1) == DEFINITION
    assert updated.definition_at(3) is None


def test_stale_if_match_is_refused_and_stores_nothing(
    app: Platform, tenant_id: UUID, stored
) -> None:
    workflow = create(app, tenant_id)
    app.update_definition(UpdateDefinition(tenant_id, workflow.id, DEFINITION, expected_version=1))
    before = stored()
    with pytest.raises(StaleVersionError) as err:
        app.update_definition(
            UpdateDefinition(tenant_id, workflow.id, DEFINITION, expected_version=1)
        )
    assert isinstance(err.value, ConflictError)
    assert (err.value.expected, err.value.actual) == (1, 2)
    assert stored() == before


def test_status_lifecycle_and_archived_is_final(app: Platform, tenant_id: UUID, stored) -> None:
    workflow = create(app, tenant_id)
    with pytest.raises(TransitionError):
        app.pause_workflow(tenant_id, workflow.id)  # draft cannot pause
    assert app.activate_workflow(tenant_id, workflow.id).status == "active"
    assert app.pause_workflow(tenant_id, workflow.id).status == "paused"
    assert app.activate_workflow(tenant_id, workflow.id).status == "active"
    assert app.archive_workflow(tenant_id, workflow.id).status == "archived"
    before = stored()
    with pytest.raises(TransitionError):
        app.activate_workflow(tenant_id, workflow.id)
    with pytest.raises(ConflictError):
        app.update_definition(UpdateDefinition(tenant_id, workflow.id, DEFINITION))
    assert stored() == before


def test_rename_workflow(app: Platform, tenant_id: UUID) -> None:
    workflow = create(app, tenant_id)
    assert app.rename_workflow(tenant_id, workflow.id, "Offboarding").name == "Offboarding"
    with pytest.raises(ValidationError):
        app.rename_workflow(tenant_id, workflow.id, "x")


def test_another_tenants_workflow_is_not_found(app: Platform, tenant_id: UUID) -> None:
    other = app.create_tenant(CreateTenant(name="Other", slug="other")).tenant.id
    workflow = create(app, tenant_id)
    for call in (app.get_workflow, app.activate_workflow, app.archive_workflow):
        with pytest.raises(NotFoundError):
            call(other, workflow.id)
    with pytest.raises(NotFoundError):
        app.get_workflow(tenant_id, uuid4())
    with pytest.raises(NotFoundError):
        app.get_workflow(tenant_id, tenant_id)  # an id of another aggregate type


APPROVALS = {
    "steps": [
        {"id": "a", "uses": "approval", "with": {"role": "Manager"}},
        {"id": "b", "uses": "approval", "with": {"role": "release-captain"}},
        {"id": "c", "uses": "approval", "with": {"role": "${{ inputs.role }}"}},
        {"id": "d", "uses": "approval", "with": "not an object"},
        {"id": "e", "uses": "echo", "with": {"role": "ghost"}},
        "not a step",
    ]
}


def test_an_approval_step_must_name_a_known_role_unless_templated(
    app: Platform, tenant_id: UUID, stored
) -> None:
    assert app.validate_definition(tenant_id, APPROVALS) == [
        Problem("/definition/steps/1/with/role", "'release-captain' is not a known role")
    ]
    before = stored()
    with pytest.raises(ValidationError) as err:
        create(app, tenant_id, APPROVALS)
    assert [p.pointer for p in err.value.problems] == ["/definition/steps/1/with/role"]
    assert stored() == before
    # once the custom role exists, the same definition is accepted
    app.create_role(CreateRole(name="Release-Captain", permissions=[]))
    assert create(app, tenant_id, APPROVALS).current_version == 1
