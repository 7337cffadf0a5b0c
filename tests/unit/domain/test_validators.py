"""Validators at their edges: unstorable text, non-JSON values, URLs; each names its pointer."""

from __future__ import annotations

from typing import Any

import pytest

from domain.kernel import validators as v
from domain.kernel.errors import Problem, ValidationError


def problems_of(validator: Any, value: Any, pointer: str = "/f") -> list[Problem]:
    with pytest.raises(ValidationError) as err:
        validator(value, pointer)
    return err.value.problems


SURROGATES = "must not contain lone surrogates (not UTF-8 text)"


@pytest.mark.parametrize(
    ("value", "where", "why"),
    [
        ("a\x00b", "/f", "must not contain NUL characters"),
        ("lone \ud800", "/f", SURROGATES),
        ({"ok": ["fine", {"k\x00": 1}]}, "/f/ok/1/k\x00", "key must not contain NUL characters"),
        ({"a/b": {"~": "\ud800"}}, "/f/a~1b/~0", SURROGATES),
    ],
)  # fmt: skip
def test_unstorable_text_is_found_at_any_depth_keys_included(
    value: Any, where: str, why: str
) -> None:
    assert v.unstorable(value, "/f") == Problem(where, why)
    assert problems_of(v.storable, value) == [Problem(where, why)]


def test_storable_values_pass_unchanged() -> None:
    value = {"é": ["ü", 1, None, ("t",)], "n": 1.5}
    assert v.unstorable(value) is None
    assert v.storable(value, "/f") is value


@pytest.mark.parametrize("validator", [v.text, v.password])
def test_text_and_passwords_refuse_unstorable_characters(validator: Any) -> None:
    (problem,) = problems_of(validator, "a long enough phrase\x00 of words")
    assert problem == Problem("/f", "must not contain NUL characters")


def test_slug_must_be_a_string() -> None:
    assert problems_of(v.slug, 42) == [Problem("/f", "must be a string")]


@pytest.mark.parametrize("value", [{"x": object()}, {"x": float("nan")}, {"x": {"y": b"bytes"}}])
def test_json_object_refuses_what_json_cannot_carry(value: Any) -> None:
    assert problems_of(v.json_object, value) == [Problem("/f", "must contain only JSON values")]


@pytest.mark.parametrize("value", [object(), float("inf"), {"k": {1, 2}}])
def test_json_value_refuses_what_json_cannot_carry(value: Any) -> None:
    assert problems_of(v.json_value, value) == [Problem("/f", "must be a JSON value")]


@pytest.mark.parametrize("value", [42, "ftp://host/x", "https://", "x" * 2049, "/relative"])
def test_http_url_must_be_an_absolute_http_url(value: Any) -> None:
    assert problems_of(v.http_url, value) == [Problem("/f", "must be an http(s) URL")]


def test_http_url_accepts_http_and_https() -> None:
    assert v.http_url("https://skills.example.com/x?y=1", "/f") == "https://skills.example.com/x?y=1"
