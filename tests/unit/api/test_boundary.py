"""The input boundary's pure checks: ASCII digits, bounded JSON, storable text."""

from __future__ import annotations

import pytest

from api.boundary import MAX_DEPTH, InputError, ascii_int, check_value, parse_json, text_problem


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0", 0), ("42", 42), ("9223372036854775807", 2**63 - 1), ("\u00b2", None),
     ("\u0663", None), ("", None), ("-1", None), (" 1", None), ("9223372036854775808", None),
     ("1" * 5000, None)],
)  # fmt: skip
def test_only_ascii_digits_within_64_bits_are_numbers(text: str, expected: int | None) -> None:
    assert ascii_int(text) == expected


def test_json_nested_up_to_the_limit_passes_and_deeper_is_refused() -> None:
    assert parse_json("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
    for depth in (MAX_DEPTH + 1, 10_000, 200_000):
        with pytest.raises(InputError, match="nested deeper"):
            parse_json("[" * depth + "]" * depth)


@pytest.mark.parametrize(
    "body",
    ['{"n": ' + "9" * 5000 + "}", '{"n": 9223372036854775808}', '{"n": NaN}',
     '{"n": -Infinity}', '{"s": "a\\u0000b"}', '{"s": "\\ud800"}', '{"\\udfff": 1}',
     '{"a": {"\\u0000": 1}}', b'{"s": "\xff"}'],
)  # fmt: skip
def test_unstorable_json_is_refused(body: str | bytes) -> None:
    with pytest.raises(InputError):
        parse_json(body)


def test_ordinary_json_passes_untouched() -> None:
    data = parse_json('{"name": "caf\\u00e9 \\ud83d\\ude00", "n": -9223372036854775808, "f": 1.5}')
    assert data == {"name": "café 😀", "n": -(2**63), "f": 1.5}


def test_the_pointer_names_the_refused_value() -> None:
    with pytest.raises(InputError) as e:
        check_value({"steps": [{"id": "ok"}, {"id": "a\x00"}]})
    assert e.value.pointer == "/steps/1/id"


def test_text_problems() -> None:
    assert text_problem("fine ²") is None
    assert "NUL" in (text_problem("a\x00") or "")
    assert "surrogate" in (text_problem("\udc00") or "")
