import pytest

from engine.definition.compiled import CompiledDefinition
from engine.definition.errors import ExpressionError
from engine.definition.expressions import MAX_EXPRESSION_LENGTH, Expression, Scope
from engine.definition.templates import Template
from tests.unit.engine.example import EXAMPLE

SCOPE = Scope(
    input={"name": "Ada", "n": 3, "tags": ["a", "b"], "price": 9.5},
    steps={"fetch": {"output": {"body": {"id": "o1", "total": 1500}}, "status": "succeeded"}},
    run={"id": "r1", "started_by": "u1", "started_at": "2030-01-01T00:00:00Z"},
)


def render(value, scope=SCOPE):
    return Template(value).render(scope)


def test_a_whole_string_template_gives_the_value_with_its_type():
    assert render("${{ input.tags }}") == ["a", "b"]
    assert render("${{input.n + 1}}") == 4
    assert render("${{ input.price > 1.0 }}") is True


def test_a_template_inside_text_is_interpolated():
    assert (
        render("Hi ${{ input.name }}, order ${{ steps.fetch.output.body.id }}")
        == "Hi Ada, order o1"
    )


def test_non_string_values_are_interpolated_as_compact_json():
    assert render("n=${{ input.n }} tags=${{ input.tags }} none=${{ null }}") == (
        'n=3 tags=["a","b"] none=null'
    )


def test_templates_nest_in_objects_and_lists_and_leave_constants_alone():
    assert render({"a": ["${{ run.started_by }}", 1, {"b": "x"}], "c": None}) == {
        "a": ["u1", 1, {"b": "x"}],
        "c": None,
    }


def test_item_and_index_are_in_scope_for_a_foreach_item():
    assert render(
        {"i": "${{ index }}", "v": "${{ item.sku }}"}, SCOPE.with_item({"sku": "k"}, 2)
    ) == {
        "i": 2,
        "v": "k",
    }


@pytest.mark.parametrize(
    "source",
    ["input.missing", "1 / 0", "input.name + 1", "item", "timestamp('nope')"],
)
def test_evaluation_errors_are_expression_errors(source):
    with pytest.raises(ExpressionError) as caught:
        Expression.compile(source).evaluate(SCOPE)
    assert caught.value.kind == "expression"
    assert source in str(caught.value)


def test_a_parse_error_is_an_expression_error_with_the_position():
    with pytest.raises(ExpressionError, match="does not parse"):
        Expression.compile("1 +")


def test_expressions_longer_than_the_limit_are_rejected():
    with pytest.raises(ExpressionError, match=f"the limit is {MAX_EXPRESSION_LENGTH}"):
        Expression.compile("1" + " + 1" * MAX_EXPRESSION_LENGTH)


def test_deeply_nested_comprehensions_are_rejected_to_bound_the_cost():
    Expression.compile("input.tags.map(x, input.tags.map(y, x + y))")
    with pytest.raises(ExpressionError, match="3 deep"):
        Expression.compile("input.tags.map(x, input.tags.map(y, input.tags.map(z, z)))")


def test_analysis_finds_roots_and_step_references_but_not_macro_variables_or_strings():
    expr = Expression.compile("steps.fetch.output.x > 1 && 'steps.nope' != '' && [1].all(v, v > 0)")
    assert expr.analysis.roots == {"steps"}
    assert expr.analysis.step_refs == (("fetch", "output"),)
    assert not expr.analysis.dynamic_steps


def test_indexing_steps_dynamically_is_noted():
    assert Expression.compile("steps[input.which].status").analysis.dynamic_steps


def test_only_the_referenced_steps_are_handed_to_the_evaluator():
    expr = Expression.compile("steps.fetch.status")
    scope = Scope(input={}, steps={"fetch": {"status": "ok"}, "big": {"output": "x" * 10}}, run={})
    assert scope.context_for(expr.analysis) == {"steps": {"fetch": {"status": "ok"}}}


def test_non_json_results_are_converted_or_refused():
    assert Expression.compile("timestamp('2030-01-01T00:00:00Z')").evaluate(SCOPE) == (
        "2030-01-01T00:00:00Z"
    )
    with pytest.raises(ExpressionError, match="not a JSON value"):
        Expression.compile("b'abc'").evaluate(SCOPE)


def test_a_definition_is_compiled_once_per_content_hash():
    assert CompiledDefinition.of(dict(EXAMPLE)) is CompiledDefinition.of(dict(EXAMPLE))


def test_compiled_definition_orders_steps_topologically_and_evaluates_parts():
    compiled = CompiledDefinition.of(EXAMPLE)
    assert compiled.order == ("fetch", "small", "approve", "ship", "tell", "each_line")
    assert compiled.steps["approve"].ancestors == {"fetch"}
    assert compiled.evaluate_if("approve", SCOPE) is True
    assert compiled.evaluate_if("small", SCOPE) is False
    assert compiled.steps["fetch"].retry.max_attempts == 3
    assert compiled.steps["approve"].timeout_s == 86400


def test_if_must_give_a_bool_and_foreach_a_list():
    compiled = CompiledDefinition.of(
        {"name": "x", "steps": [{"id": "a", "uses": "noop", "if": "input.n", "foreach": "input.n"}]}
    )
    with pytest.raises(ExpressionError, match="`if` needs a bool"):
        compiled.evaluate_if("a", SCOPE)
    with pytest.raises(ExpressionError, match="`foreach` needs a list"):
        compiled.evaluate_foreach("a", SCOPE)
