import json

import jsonschema
import pytest

from engine.definition.dsl import (
    SCHEMA_PATH,
    Definition,
    definition_hash,
    definition_json_schema,
    effective_retry,
    load_definition_text,
)
from tests.unit.engine.example import EXAMPLE


def test_published_schema_file_is_the_generated_one():
    assert json.loads(SCHEMA_PATH.read_text()) == definition_json_schema()


def test_published_schema_is_draft_2020_12_and_accepts_the_spec_example():
    schema = definition_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(EXAMPLE)


def test_published_schema_rejects_an_unknown_kind_and_a_bad_step_id():
    validator = jsonschema.Draft202012Validator(definition_json_schema())
    bad = {"name": "x", "steps": [{"id": "Bad", "uses": "nope"}]}
    assert len(list(validator.iter_errors(bad))) == 2


def test_models_read_the_spec_example_with_aliases():
    definition = Definition.model_validate(EXAMPLE)
    assert definition.steps[1].if_ == "steps.fetch.output.body.total < 1000"
    assert definition.steps[0].with_ == {"method": "GET", "url": "${{ input.order_url }}"}


def test_step_retry_fields_override_the_defaults_field_by_field():
    definition = Definition.model_validate(
        {
            "name": "x",
            "defaults": {"retry": {"max_attempts": 3, "multiplier": 3.0}},
            "steps": [{"id": "a", "uses": "noop", "retry": {"max_attempts": 5}}],
        }
    )
    policy = effective_retry(definition, definition.steps[0])
    assert (policy.max_attempts, policy.multiplier) == (5, 3.0)


def test_yaml_and_json_load_to_the_same_data():
    yaml_text = "name: x\nsteps:\n  - id: a\n    uses: noop\n    if: 'input.go'\n"
    assert load_definition_text(yaml_text) == load_definition_text(
        json.dumps({"name": "x", "steps": [{"id": "a", "uses": "noop", "if": "input.go"}]})
    )


def test_text_that_is_neither_json_nor_yaml_is_a_value_error():
    with pytest.raises(ValueError, match="neither JSON nor YAML"):
        load_definition_text("a: [unclosed")


def test_definition_hash_ignores_key_order():
    assert definition_hash({"a": 1, "b": 2}) == definition_hash({"b": 2, "a": 1})
