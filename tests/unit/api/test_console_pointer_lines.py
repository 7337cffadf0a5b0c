"""The editor's JSON Pointer → line mapping, on YAML and JSON sources."""

from __future__ import annotations

from api.console.pointer_lines import line_of, parse_error_line

YAML = """\
name: demo
steps:
  - id: a
    uses: noop
  - id: b
    uses: noop
    needs: [a, zz]
"""

JSON = """{
\t"name": "demo",
  "steps": [
    {"id": "a", "uses": "noop"},
    {
      "id": "b",
      "needs": ["a"]
    }
  ]
}"""


def test_a_yaml_member_maps_to_its_key_line() -> None:
    assert line_of(YAML, "/name") == 1
    assert line_of(YAML, "/steps/1/needs") == 7


def test_a_yaml_array_item_maps_to_its_own_line() -> None:
    assert line_of(YAML, "/steps/1") == 5
    assert line_of(YAML, "/steps/0/uses") == 4


def test_a_missing_member_maps_to_the_deepest_existing_node() -> None:
    assert line_of(YAML, "/steps/1/timeout") == 5
    assert line_of(YAML, "/steps/9") == 2


def test_the_root_pointer_is_the_first_line() -> None:
    assert line_of(YAML, "") == 1


def test_json_members_map_to_their_lines_even_with_tab_indentation() -> None:
    assert line_of(JSON, "/name") == 2
    assert line_of(JSON, "/steps/0") == 4
    assert line_of(JSON, "/steps/1/needs") == 7


def test_escaped_pointer_tokens_are_unescaped() -> None:
    text = 'a/b:\n  x: 1\n"c~d": 2\n'
    assert line_of(text, "/a~1b/x") == 2
    assert line_of(text, "/c~0d") == 3


def test_an_unparsable_text_has_no_member_lines() -> None:
    assert line_of("a: [1,\n", "/a") is None


def test_a_yaml_syntax_error_is_found_at_its_line() -> None:
    assert parse_error_line("name: x\nsteps:\n  - id: a\n   uses: [\n") is not None
    assert parse_error_line("a: 1\nb: [1, 2\nc: 3\n") == 3


def test_a_json_syntax_error_is_found_at_its_line() -> None:
    assert parse_error_line('{\n  "a": 1,\n  "b": \n}') == 4


def test_a_text_that_parses_has_no_error_line() -> None:
    assert parse_error_line(YAML) is None
    assert parse_error_line(JSON) is None
