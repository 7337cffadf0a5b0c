"""Cheap caps before expensive work: YAML aliases and nesting, the step count, the graph
(issue 12, findings 3 and 6)."""

from __future__ import annotations

import random

import networkx as nx
import pytest

from engine.definition import validation
from engine.definition.dsl import MAX_NESTING_DEPTH, ancestor_sets, load_definition_text

pytestmark = pytest.mark.timeout(30)


def alias_bomb(levels: int) -> str:
    """The billion-laughs shape: each level lists the previous one ten times."""
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]']
    for i in range(1, levels + 1):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    return "\n".join([*lines, "name: bomb", "steps: []"])


def test_a_yaml_alias_bomb_is_refused_before_it_is_expanded() -> None:
    text = alias_bomb(6)  # a few hundred bytes standing for ten million values
    assert len(text) < 500
    with pytest.raises(ValueError, match="YAML aliases are expanded"):
        load_definition_text(text)


def test_yaml_anchors_within_the_bound_still_work() -> None:
    text = "retry: &r {max_attempts: 3}\nsteps:\n - {id: a, retry: *r}\n - {id: b, retry: *r}\n"
    data = load_definition_text(text)
    assert data["steps"][1]["retry"] == {"max_attempts": 3}


def test_a_yaml_alias_to_its_own_ancestor_is_refused() -> None:
    with pytest.raises(ValueError):
        load_definition_text("a: &a [1, *a]\n")


@pytest.mark.parametrize("opening", ["x: " + "[" * 10_000, "x:\n" + "".join(
    f"{' ' * i}- \n" for i in range(200))])  # fmt: skip
def test_deep_yaml_is_refused(opening: str) -> None:
    with pytest.raises(ValueError, match=f"deeper than {MAX_NESTING_DEPTH} levels"):
        load_definition_text(opening + "]" * opening.count("["))


def test_deep_json_text_is_refused() -> None:
    with pytest.raises(ValueError, match="deeper than"):
        load_definition_text("[" * 10_000 + "]" * 10_000)
    with pytest.raises(ValueError, match="deeper than"):
        load_definition_text('{"a":' * 100 + "1" + "}" * 100)


def test_a_definition_over_the_step_cap_is_rejected_before_any_other_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def expensive(*_: object) -> list[object]:
        raise AssertionError("per-step or graph work before the step cap")

    for name in ("shape_problems", "step_problems", "_expression_problems", "ancestor_sets"):
        monkeypatch.setattr(validation, name, expensive)
    steps = [
        {"id": f"s{i}", "uses": "noop", "needs": [f"s{i - 1}"] if i else []} for i in range(10_000)
    ]
    problems = validation.validate_definition({"name": "big", "steps": steps})
    assert problems == [("/steps", "has 10,000 steps; the limit is 500")]


def test_ancestor_sets_match_networkx_on_random_graphs_with_cycles() -> None:
    rng = random.Random(12)
    for _ in range(200):
        n = rng.randint(1, 25)
        graph: nx.DiGraph[str] = nx.DiGraph()
        graph.add_nodes_from(f"s{i}" for i in range(n))
        for _ in range(rng.randint(0, 50)):
            a, b = rng.randrange(n), rng.randrange(n)
            if a != b:
                graph.add_edge(f"s{a}", f"s{b}")
        found = ancestor_sets(graph)
        assert found == {v: frozenset(nx.ancestors(graph, v)) for v in graph}


def test_a_control_character_the_yaml_reader_refuses_is_a_value_error() -> None:
    # the reader refuses it when the loader is made, before any parsing (found by the
    # write-routes property test: it was a 500)
    with pytest.raises(ValueError, match="neither JSON nor YAML"):
        load_definition_text("\x1f")
