import copy

import pytest

from domain.kernel.errors import ValidationError
from engine.definition.validation import Problem, validate_definition
from tests.unit.engine.example import EXAMPLE


def problems_of(*steps, **extra):
    return validate_definition({"name": "t", "steps": list(steps), **extra})


def only(problems):
    assert len(problems) == 1, problems
    return problems[0]


def test_the_spec_example_is_valid():
    assert validate_definition(EXAMPLE) == []


def test_a_definition_must_be_an_object():
    assert validate_definition([]) == [Problem("", "a workflow definition must be a JSON object")]


def test_problems_feed_the_domain_validation_error():
    error = ValidationError(problems_of({"id": "a", "uses": "nop"}))
    assert error.problems[0][0] == "/steps/0/uses"


def test_missing_fields_are_reported_with_pointers():
    problems = validate_definition({"steps": [{"id": "a"}]})
    assert Problem("/name", "'name' is required") in problems
    assert Problem("/steps/0/uses", "'uses' is required") in problems


def test_unknown_fields_are_reported_with_a_suggestion():
    problem = only(problems_of({"id": "a", "uses": "noop", "neds": ["b"]}))
    assert problem == Problem("/steps/0/neds", "unknown field 'neds'; did you mean 'needs'?")


def test_bad_step_ids_explain_the_pattern():
    problem = only(problems_of({"id": "Fetch", "uses": "noop"}))
    assert problem.pointer == "/steps/0/id"
    assert "'Fetch' is not a valid step id" in problem.message


def test_step_ids_are_unique():
    problem = only(problems_of({"id": "a", "uses": "noop"}, {"id": "a", "uses": "noop"}))
    assert problem == Problem("/steps/1/id", "step id 'a' is already used by /steps/0")


def test_needs_must_name_steps_with_a_suggestion():
    problem = only(
        problems_of(
            {"id": "ship", "uses": "noop"}, {"id": "tell", "uses": "noop", "needs": ["shipp"]}
        )
    )
    assert problem == Problem(
        "/steps/1/needs/0",
        "step 'tell' needs 'shipp', which is not a step id; did you mean 'ship'?",
    )


def test_a_step_cannot_need_itself_or_a_step_twice():
    problems = problems_of(
        {"id": "a", "uses": "noop"}, {"id": "b", "uses": "noop", "needs": ["b", "a", "a"]}
    )
    assert problems == [
        Problem("/steps/1/needs/0", "step 'b' needs itself"),
        Problem("/steps/1/needs/2", "step 'b' lists 'a' in needs twice"),
    ]


def test_a_cycle_is_named_member_by_member():
    problem = only(
        problems_of(
            {"id": "a", "uses": "noop", "needs": ["c"]},
            {"id": "b", "uses": "noop", "needs": ["a"]},
            {"id": "c", "uses": "noop", "needs": ["b"]},
        )
    )
    assert problem == Problem(
        "/steps/0/needs",
        "the steps' needs form a cycle: 'a' needs 'c', which needs 'b', which needs 'a'",
    )


def test_uses_must_be_a_builtin_kind_or_a_skill():
    problem = only(problems_of({"id": "a", "uses": "htp", "with": {"url": "x"}}))
    assert problem.pointer == "/steps/0/uses"
    assert "neither a built-in kind" in problem.message
    assert problem.message.endswith("did you mean 'http'?")


def test_skills_are_checked_by_the_resolver_when_one_is_given():
    step = {"id": "a", "uses": "skill:pdf@^1.2"}
    assert problems_of(step) == []
    calls = []

    def resolver(name, version_range):
        calls.append((name, version_range))
        return False

    problem = only(validate_definition({"name": "t", "steps": [step]}, skill_resolver=resolver))
    assert calls == [("pdf", "^1.2")]
    assert problem == Problem("/steps/0/uses", "no installed active skill 'pdf' matching '^1.2'")


def test_a_resolver_may_explain_why_a_skill_is_unusable():
    problems = validate_definition(
        {"name": "t", "steps": [{"id": "a", "uses": "skill:pdf"}]},
        skill_resolver=lambda name, rng: f"skill '{name}' is disabled",
    )
    assert problems == [Problem("/steps/0/uses", "skill 'pdf' is disabled")]


def test_a_skill_name_and_range_are_checked_for_syntax():
    assert "not a valid skill name" in only(problems_of({"id": "a", "uses": "skill:Pdf"})).message
    assert "not a semver range" in only(problems_of({"id": "a", "uses": "skill:pdf@{1}"})).message
    for bad in ("^^1", "1.2.3.4", ">=1,!=1.5.0", "1 -"):  # npm's grammar, without a resolver
        problem = only(problems_of({"id": "a", "uses": f"skill:pdf@{bad}"}))
        assert problem.pointer == "/steps/0/uses"
        assert problem.message.startswith(f"'{bad}' is not a semver range"), problem
    assert problems_of({"id": "a", "uses": "skill:pdf@1.0.0 - 2.x || ^3"}) == []


def test_builtin_kinds_need_their_inputs():
    problems = problems_of(
        {"id": "a", "uses": "http"},
        {"id": "b", "uses": "approval", "with": {}},
        {"id": "c", "uses": "wait", "with": {"seconds": 1, "until": "2030-01-01T00:00:00Z"}},
    )
    assert [p.message for p in problems] == [
        "step 'a' (http) needs with.url",
        "step 'b' (approval) needs with.role",
        "step 'c' (wait) needs exactly one of with.seconds, with.until",
    ]


def test_trigger_must_be_a_known_rule():
    problem = only(problems_of({"id": "a", "uses": "noop", "trigger": "any"}))
    assert problem == Problem(
        "/steps/0/trigger", "trigger 'any' is not one of all_success, any_success, all_done"
    )


def test_max_parallel_needs_foreach():
    problem = only(problems_of({"id": "a", "uses": "noop", "max_parallel": 2}))
    assert problem == Problem(
        "/steps/0/max_parallel", "step 'a' sets max_parallel but has no foreach"
    )


def test_retry_on_cannot_list_kinds_that_are_never_retried():
    problem = only(
        problems_of({"id": "a", "uses": "noop", "retry": {"retry_on": ["timeout", "expression"]}})
    )
    assert problem.pointer == "/steps/0/retry/retry_on/1"


def test_retry_fields_are_range_checked():
    problem = only(problems_of({"id": "a", "uses": "noop", "retry": {"max_attempts": 0}}))
    assert problem.pointer == "/steps/0/retry/max_attempts"


def test_expressions_must_parse():
    problem = only(problems_of({"id": "a", "uses": "noop", "if": "input.x >"}))
    assert problem.pointer == "/steps/0/if"
    assert "does not parse" in problem.message


def test_template_expressions_are_checked_where_they_sit():
    problem = only(problems_of({"id": "a", "uses": "noop", "with": {"x": ["ok", "${{ 1 + }}"]}}))
    assert problem.pointer == "/steps/0/with/x/1"


def test_unknown_root_names_are_reported_with_a_suggestion():
    problem = only(problems_of({"id": "a", "uses": "noop", "if": "inputs.go"}))
    assert problem == Problem(
        "/steps/0/if",
        "`inputs.go` in step 'a' reads 'inputs', which is not defined. Did you mean 'input'?",
    )


def test_item_and_index_exist_only_in_a_foreach_steps_with():
    problems = problems_of(
        {"id": "a", "uses": "noop", "with": "${{ item }}"},
        {
            "id": "b",
            "uses": "noop",
            "foreach": "${{ input.xs }}",
            "with": "${{ index }}",
            "if": "item > 0",
        },
    )
    assert [p.pointer for p in problems] == ["/steps/0/with", "/steps/1/if"]
    assert all("only defined in the with of a foreach step" in p.message for p in problems)


def test_config_exists_only_in_skill_steps():
    assert problems_of({"id": "a", "uses": "skill:x", "with": "${{ config.k }}"}) == []
    assert (
        "only defined in skill steps"
        in only(problems_of({"id": "a", "uses": "noop", "with": "${{ config.k }}"})).message
    )


def test_expressions_may_read_only_steps_that_exist():
    problem = only(
        problems_of(
            {"id": "ship", "uses": "noop"},
            {"id": "b", "uses": "noop", "needs": ["ship"], "if": "steps.shipp.status == 'x'"},
        )
    )
    assert problem.message.endswith("there is no step 'shipp'; did you mean 'ship'?")


def test_expressions_may_read_only_steps_that_are_needed_transitively():
    problems = problems_of(
        {"id": "a", "uses": "noop"},
        {"id": "b", "uses": "noop", "needs": ["a"]},
        {"id": "c", "uses": "noop", "needs": ["b"], "with": "${{ steps.a.output }}"},
        {"id": "d", "uses": "noop", "with": "${{ steps.c.output }}"},
    )
    assert [p.pointer for p in problems] == ["/steps/3/with"]
    assert "step 'd' does not need 'c'" in problems[0].message


def test_a_step_has_only_output_and_status():
    problem = only(
        problems_of(
            {"id": "a", "uses": "noop"},
            {"id": "b", "uses": "noop", "needs": ["a"], "if": "steps.a.outptu == 1"},
        )
    )
    assert problem.message.endswith("a step has only 'output' and 'status'; did you mean 'output'?")


def test_run_has_only_id_started_by_and_started_at():
    problem = only(problems_of({"id": "a", "uses": "noop", "with": "by ${{ run.user }}"}))
    assert "run has only id, started_by, started_at" in problem.message


def test_the_run_output_may_read_every_step():
    assert problems_of({"id": "a", "uses": "noop"}, output={"a": "${{ steps.a.output }}"}) == []
    problem = only(problems_of({"id": "a", "uses": "noop"}, output="${{ steps.b.output }}"))
    assert problem.pointer == "/output"


def test_input_schema_must_be_a_json_schema():
    problem = only(problems_of({"id": "a", "uses": "noop"}, input_schema={"type": "objekt"}))
    assert problem.pointer == "/input_schema/type"


def test_every_problem_is_reported_at_once_in_document_order():
    broken = copy.deepcopy(EXAMPLE)
    broken["steps"][3]["needs"] = ["small", "shipp"]
    broken["steps"][1]["uses"] = "nop"
    broken["steps"][5]["retry"] = {"jiter": True}
    broken["output"] = {"x": "${{ steps.nope.output }}"}
    pointers = [p.pointer for p in validate_definition(broken)]
    assert pointers == ["/output/x", "/steps/1/uses", "/steps/3/needs/1", "/steps/5/retry/jiter"]


@pytest.mark.parametrize("steps", [None, [], "x", [1]])
def test_malformed_steps_do_not_crash_the_validator(steps):
    assert validate_definition({"name": "t", "steps": steps})


# -- types (checked at submit with what is known; the rest is dyn) ---------------------------


def type_problems(*steps, **extra):
    return [(p.pointer, p.message) for p in problems_of(*steps, **extra)]


def test_operators_on_the_wrong_types_are_rejected_at_submit():
    problems = type_problems(
        {"id": "y", "uses": "noop"},
        {"id": "a", "uses": "noop", "needs": ["y"], "if": "'yes' + 1 > 0"},
        {"id": "b", "uses": "transform", "with": {"n": "${{ 1 + 'a' }}"}},
        {"id": "c", "uses": "noop", "needs": ["y"], "if": "steps.y.status + 1 > 0"},
    )
    assert problems == [
        ("/steps/1/if", "expression `'yes' + 1 > 0` in step 'a': "
                        "'+' is not defined for (string, int) (at column 7)"),
        ("/steps/2/with/n", "expression `1 + 'a'` in step 'b': "
                            "'+' is not defined for (int, string) (at column 3)"),
        ("/steps/3/if", "expression `steps.y.status + 1 > 0` in step 'c': "
                        "'+' is not defined for (string, int) (at column 16)"),
    ]  # fmt: skip


def test_if_must_give_a_bool_and_foreach_a_list():
    problems = type_problems(
        {"id": "a", "uses": "noop", "if": "'abc'"},
        {"id": "b", "uses": "noop", "foreach": "${{ 'abc' }}"},
        {"id": "c", "uses": "noop", "if": "${{ 1 }}"},
    )
    assert problems == [
        ("/steps/0/if", "expression `'abc'` in step 'a': must give a bool, but gives string"),
        ("/steps/1/foreach", "expression `'abc'` in step 'b': must give a list, but gives string"),
        ("/steps/2/if", "expression `1` in step 'c': must give a bool, but gives int"),
    ]


def test_input_is_typed_by_the_input_schema_where_it_is_typed():
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "n": {"type": "integer"},
            "price": {"type": "number"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "address": {"type": "object", "properties": {"zip": {"type": "string"}}},
            "free": {},
        },
    }
    ok = [
        "input.name + '!'", "input.n + 1", "input.price * 1.5", "input.price + 1",
        "input.tags.map(t, t + '!')", "input.address.zip.startsWith('9')", "input.free + 1",
        "input.other + 1", "has(input.name) && input.name != ''", "input.n > 1.5",
        "input.n == 1.0", "input.name == null", "input.n > 0 ? input.n : 'none'",
    ]  # fmt: skip
    steps = [{"id": f"s{i}", "uses": "transform", "with": f"${{{{ {e} }}}}"}
             for i, e in enumerate(ok)]  # fmt: skip
    assert problems_of(*steps, input_schema=schema) == []
    bad = {"id": "x", "uses": "transform", "with": {
        "a": "${{ input.name + 1 }}", "b": "${{ input.n + 'x' }}",
        "c": "${{ input.tags[0] - 1 }}", "d": "${{ input.address.zip * 2 }}",
    }}  # fmt: skip
    messages = [p.message for p in problems_of(bad, input_schema=schema)]
    assert [m.split(": ", 1)[1] for m in messages] == [
        "'+' is not defined for (string, int) (at column 12)",
        "'+' is not defined for (int, string) (at column 9)",
        "'-' is not defined for (string, int) (at column 15)",
        "'*' is not defined for (string, int) (at column 19)",
    ]
    # without a schema, input is dyn: nothing to object to
    assert problems_of({**bad, "id": "y"}) == []


def test_index_is_an_int_and_unknown_functions_are_rejected():
    problems = type_problems(
        {"id": "a", "uses": "noop", "foreach": "[1, 2]", "with": {"i": "${{ index + 'x' }}"}},
        {"id": "b", "uses": "noop", "with": "${{ max(1, 2) }}"},
    )
    assert [(p, m.split(": ", 1)[1]) for p, m in problems] == [
        ("/steps/0/with/i", "'+' is not defined for (int, string) (at column 7)"),
        ("/steps/1/with", "undeclared reference to 'max' (in container '') (at column 4)"),
    ]


def test_what_the_runtime_accepts_is_not_refused():
    # heterogeneous equality, numeric comparisons across types, mixed conditional branches
    # and the standard macros all evaluate at run time
    ok = [
        "1 == 1.0", "'a' != 1", "1 < 1.5", "2u >= 1", "true ? 1 : 'a'",
        "[1, 2].exists(v, v > 1)", "run.started_at < 'z'",
        "steps.y.status == 'succeeded' && steps.y.output.total > 3", "size(steps.y.output) > 0",
    ]  # fmt: skip
    steps = [{"id": "y", "uses": "noop"}] + [
        {"id": f"s{i}", "uses": "noop", "needs": ["y"], "if": e} for i, e in enumerate(ok)
    ]
    assert problems_of(*steps) == []
