"""A failed admin form shows the status the JSON API would answer."""

from __future__ import annotations

from uuid import uuid4

import pytest
from pydantic import ValidationError as PydanticValidationError

from api.console.admin_forms import failure
from api.errors import ProblemError
from api.schemas.identity import UserCreate
from domain.kernel.errors import ConflictError, StaleVersionError, ValidationError


def test_a_stale_version_is_412_and_a_conflict_409() -> None:
    assert failure(StaleVersionError("user", uuid4(), 3, 4))[0] == 412
    assert failure(ConflictError("email taken"))[0] == 409


def test_an_invalid_input_is_422_naming_the_field() -> None:
    status, message = failure(ValidationError.one("/email", "is not an email"))
    assert status == 422
    assert "/email" in message
    with pytest.raises(PydanticValidationError) as caught:
        UserCreate.model_validate({"email": "a@b.c", "name": "n", "role": "root"})
    assert failure(caught.value)[0] == 422


def test_a_problem_keeps_its_status_and_its_pointers() -> None:
    status, message = failure(ProblemError(403, "no", errors=[{"pointer": "/x", "message": "y"}]))
    assert (status, message) == (403, "no /x: y")


def test_anything_else_is_not_swallowed() -> None:
    with pytest.raises(KeyError):
        failure(KeyError("k"))
