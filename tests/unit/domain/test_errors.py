"""Domain errors: one root, and each names what it is about (attributes and message)."""

from __future__ import annotations

from uuid import uuid4

import pytest

from domain.kernel.errors import (
    AuthenticationError,
    ConflictError,
    DomainError,
    NotFoundError,
    PermissionDeniedError,
    Problem,
    StaleVersionError,
    TransitionError,
    ValidationError,
)


def test_every_error_names_its_ids_as_attributes_and_in_its_message() -> None:
    rid, actor = uuid4(), uuid4()
    not_found = NotFoundError("workflow", rid)
    assert (not_found.resource_type, not_found.resource_id) == ("workflow", rid)
    assert str(not_found) == f"workflow {rid} not found"
    stale = StaleVersionError("user", rid, 3, 5)
    assert (stale.resource_id, stale.expected, stale.actual) == (rid, 3, 5)
    assert str(stale) == f"user {rid} is at version 5, not 3"
    illegal = TransitionError("tenant", rid, "cancelled", "active")
    assert (illegal.resource_type, illegal.current, illegal.target) == (
        "tenant",
        "cancelled",
        "active",
    )
    assert str(rid) in str(illegal)
    denied = PermissionDeniedError("role:manager", actor)
    assert (denied.permission, denied.actor_id) == ("role:manager", actor)
    assert str(denied) == f"actor {actor} lacks permission 'role:manager'"


def test_validation_error_lists_every_problem_with_its_pointer() -> None:
    err = ValidationError([Problem("/name", "too short"), Problem("", "not an object")])
    assert err.problems == [("/name", "too short"), ("", "not an object")]
    assert str(err) == "invalid input: /name: too short; /: not an object"
    (one,) = ValidationError.one("/slug", "must be kebab-case").problems
    assert (one.pointer, one.message) == ("/slug", "must be kebab-case")


def test_authentication_error_says_nothing_about_what_was_wrong() -> None:
    assert str(AuthenticationError()) == "invalid credentials"


@pytest.mark.parametrize(
    "error",
    [
        ValidationError([]),
        NotFoundError("x", 1),
        ConflictError("m", resource_type="x", resource_id=1),
        StaleVersionError("x", 1, 1, 2),
        TransitionError("x", 1, "a", "b"),
        PermissionDeniedError("p"),
        AuthenticationError(),
    ],
)
def test_every_error_derives_from_the_domain_root(error: Exception) -> None:
    assert isinstance(error, DomainError)

