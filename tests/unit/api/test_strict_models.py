"""``Strict`` request models check a value as sent against its documented JSON Schema; a value
the server built itself (the console parses its form fields into ids first) is checked as JSON
would carry it, not refused for being a Python object."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError

from api.schemas.identity import UserRolesSet


def test_ids_the_console_parsed_are_taken() -> None:
    ids = [uuid.uuid4(), uuid.uuid4()]
    assert UserRolesSet(role_ids=ids).role_ids == ids


def test_ids_as_json_sends_them_are_taken() -> None:
    ids = [str(uuid.uuid4())]
    assert UserRolesSet.model_validate({"role_ids": ids}).role_ids == [uuid.UUID(ids[0])]


@pytest.mark.parametrize("bad", [[0], "not-a-list", [None]])
def test_what_the_schema_refuses_is_still_refused(bad: object) -> None:
    with pytest.raises(ValidationError):
        UserRolesSet.model_validate({"role_ids": bad})
