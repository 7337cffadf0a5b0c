"""The run form built from a workflow's input_schema, and the form read back as input."""

from __future__ import annotations

from api.console.input_form import JSON_FIELD, fields_for, read_input

SCHEMA = {
    "type": "object",
    "required": ["order_id", "count"],
    "properties": {
        "order_id": {"type": "string", "description": "The order"},
        "count": {"type": "integer"},
        "ratio": {"type": "number", "default": 0.5},
        "rush": {"type": "boolean", "default": True},
        "tier": {"type": "string", "enum": ["gold", "silver"]},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
}


def test_each_property_becomes_a_field_of_its_kind_in_order() -> None:
    fields = fields_for(SCHEMA)
    assert fields is not None
    assert [(f.name, f.kind, f.required) for f in fields] == [
        ("order_id", "text", True), ("count", "integer", True), ("ratio", "number", False),
        ("rush", "boolean", False), ("tier", "select", False), ("tags", "json", False),
    ]  # fmt: skip
    assert fields[0].description == "The order"
    assert fields[4].options == ["gold", "silver"]
    assert fields[2].default == "0.5"
    assert fields[3].default == "on"


def test_a_schema_without_object_properties_has_no_form() -> None:
    assert fields_for(None) is None
    assert fields_for({"type": "array"}) is None
    assert fields_for({"type": "object"}) is None


def test_the_posted_form_is_read_back_as_typed_input() -> None:
    form = {"in.order_id": " A-1 ", "in.count": "3", "in.ratio": "1.5", "in.tier": "gold",
            "in.tags": '["x"]'}  # fmt: skip
    value, problems = read_input(fields_for(SCHEMA), form)
    assert problems == []
    assert value == {"order_id": "A-1", "count": 3, "ratio": 1.5, "rush": False,
                     "tier": "gold", "tags": ["x"]}  # fmt: skip


def test_empty_optional_fields_are_left_out_and_a_checked_box_is_true() -> None:
    value, problems = read_input(fields_for(SCHEMA), {"in.order_id": "A", "in.count": "1",
                                                      "in.rush": "on"})  # fmt: skip
    assert problems == []
    assert value == {"order_id": "A", "count": 1, "rush": True}


def test_missing_and_malformed_fields_are_problems() -> None:
    _, problems = read_input(fields_for(SCHEMA), {"in.count": "three", "in.tags": "[x"})
    assert problems == [("order_id", "is required"), ("count", "is not an integer"),
                        ("tags", "is not JSON")]  # fmt: skip


def test_without_a_form_the_input_is_the_json_textarea() -> None:
    assert read_input(None, {JSON_FIELD: '{"a": 1}'}) == ({"a": 1}, [])
    assert read_input(None, {JSON_FIELD: "  "}) == (None, [])
    value, problems = read_input(None, {JSON_FIELD: "{nope"})
    assert value is None
    assert problems[0][0] == JSON_FIELD
