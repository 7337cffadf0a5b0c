"""A rejected command stores no event: the owner counts the same rows in ``platform_events``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from domain.identity.commands import CreateTenant, RegisterUser, UpdateTenant
from domain.kernel.errors import (
    ConflictError,
    DomainError,
    StaleVersionError,
    TransitionError,
    ValidationError,
)
from domain.platform import Platform
from domain.workflows.commands import CreateWorkflow, UpdateDefinition
from tests.integration.domain.pg_support import (
    count_events,
    create_tenant,
    register,
    unique_email,
    unique_slug,
)
from tests.support.doubles import PASSWORD

DEFINITION = {"steps": [{"id": "a", "kind": "echo"}]}


def assert_rejected_and_nothing_stored(
    conn: psycopg.Connection[Any],
    command: Callable[[], Any],
    error: type[DomainError],
) -> DomainError:
    before = count_events(conn)
    with pytest.raises(error) as caught:
        command()
    assert count_events(conn) == before
    return caught.value


def test_a_bad_slug_stores_nothing(app: Platform, owner_conn: psycopg.Connection[Any]) -> None:
    err = assert_rejected_and_nothing_stored(
        owner_conn,
        lambda: app.create_tenant(
            CreateTenant(
                name="Acme", slug="Not-Kebab", admin_email="x@acme.io", admin_password=PASSWORD
            )
        ),
        ValidationError,
    )
    assert [p for p, _ in err.problems] == ["/slug"]  # type: ignore[attr-defined]


def test_a_taken_slug_stores_nothing(app: Platform, owner_conn: psycopg.Connection[Any]) -> None:
    slug = unique_slug()
    app.create_tenant(CreateTenant(name="Acme", slug=slug))
    # the second tenant would bring an admin user too: none of it may land
    assert_rejected_and_nothing_stored(
        owner_conn,
        lambda: app.create_tenant(
            CreateTenant(
                name="Acme 2", slug=slug, admin_email=unique_email(), admin_password=PASSWORD
            )
        ),
        ConflictError,
    )


def test_a_bad_email_stores_nothing(app: Platform, owner_conn: psycopg.Connection[Any]) -> None:
    tenant_id = create_tenant(app)
    err = assert_rejected_and_nothing_stored(
        owner_conn,
        lambda: app.register_user(
            RegisterUser(tenant_id=tenant_id, email="not an email", name="Ann", password=PASSWORD)
        ),
        ValidationError,
    )
    assert [p for p, _ in err.problems] == ["/email"]  # type: ignore[attr-defined]


def test_a_taken_email_stores_nothing(app: Platform, owner_conn: psycopg.Connection[Any]) -> None:
    tenant_id = create_tenant(app)
    email = unique_email()
    register(app, tenant_id, email=email)
    assert_rejected_and_nothing_stored(
        owner_conn, lambda: register(app, tenant_id, email=email.upper()), ConflictError
    )


def test_invalid_transitions_store_nothing(
    app: Platform, owner_conn: psycopg.Connection[Any]
) -> None:
    tenant_id = create_tenant(app)
    workflow = app.create_workflow(
        CreateWorkflow(tenant_id=tenant_id, name="Flow", definition=DEFINITION)
    )
    # a draft cannot pause; an archived workflow cannot come back
    assert_rejected_and_nothing_stored(
        owner_conn, lambda: app.pause_workflow(tenant_id, workflow.id), TransitionError
    )
    app.archive_workflow(tenant_id, workflow.id)
    assert_rejected_and_nothing_stored(
        owner_conn, lambda: app.activate_workflow(tenant_id, workflow.id), TransitionError
    )
    # a cancelled tenant is final
    app.set_tenant_status(tenant_id, "cancelled")
    err = assert_rejected_and_nothing_stored(
        owner_conn, lambda: app.set_tenant_status(tenant_id, "active"), TransitionError
    )
    assert (err.current, err.target) == ("cancelled", "active")  # type: ignore[attr-defined]


def test_a_stale_expected_version_stores_nothing(
    app: Platform, owner_conn: psycopg.Connection[Any]
) -> None:
    tenant_id = create_tenant(app)
    app.update_tenant(UpdateTenant(tenant_id=tenant_id, name="Acme Inc", expected_version=1))
    err = assert_rejected_and_nothing_stored(
        owner_conn,
        lambda: app.update_tenant(
            UpdateTenant(tenant_id=tenant_id, name="Too Late", expected_version=1)
        ),
        StaleVersionError,
    )
    assert (err.expected, err.actual) == (1, 2)  # type: ignore[attr-defined]
    workflow = app.create_workflow(
        CreateWorkflow(tenant_id=tenant_id, name="Flow", definition=DEFINITION)
    )
    app.update_definition(UpdateDefinition(tenant_id, workflow.id, DEFINITION, expected_version=1))
    assert_rejected_and_nothing_stored(
        owner_conn,
        lambda: app.update_definition(
            UpdateDefinition(tenant_id, workflow.id, DEFINITION, expected_version=1)
        ),
        StaleVersionError,
    )
    assert app.get_tenant(tenant_id).name == "Acme Inc"
