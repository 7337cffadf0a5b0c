"""The run page's DAG layout: columns from topological generations, geometry, step labels."""

from __future__ import annotations

import re

from api.console.dag import GAP_X, MARGIN, NODE_H, NODE_W, layout, state, step_states


def _steps(*pairs: tuple[str, list[str]]) -> list[dict[str, object]]:
    return [{"id": sid, "uses": "noop", "needs": needs} for sid, needs in pairs]


def test_a_step_sits_one_column_right_of_its_latest_need() -> None:
    g = layout(_steps(("a", []), ("b", ["a"]), ("c", []), ("d", ["b", "c"])))
    layers = {n.id: n.layer for n in g.nodes}
    assert layers == {"a": 0, "b": 1, "c": 0, "d": 2}


def test_a_column_keeps_the_definition_order_top_to_bottom() -> None:
    g = layout(_steps(("z", []), ("y", []), ("x", [])))
    assert [n.id for n in sorted(g.nodes, key=lambda n: n.y)] == ["z", "y", "x"]
    assert {n.x for n in g.nodes} == {MARGIN}


def test_every_need_is_an_edge_from_the_right_of_one_box_to_the_left_of_the_next() -> None:
    g = layout(_steps(("a", []), ("b", ["a"])))
    (edge,) = g.edges
    assert (edge.source, edge.target) == ("a", "b")
    a, b = g.nodes
    numbers = [int(n) for n in re.findall(r"-?\d+", edge.path)]
    assert numbers[:2] == [a.x + NODE_W, a.y + NODE_H // 2]
    assert numbers[-2:] == [b.x, b.y + NODE_H // 2]


def test_the_drawing_is_as_large_as_its_columns_and_tallest_column() -> None:
    g = layout(_steps(("a", []), ("b", ["a"]), ("c", ["a"]), ("d", ["a"])))
    assert g.width == 2 * MARGIN + 2 * NODE_W + GAP_X
    assert g.height == 2 * MARGIN + 3 * NODE_H + 2 * 18
    assert all(n.x >= 0 and n.x + NODE_W <= g.width for n in g.nodes)
    assert all(n.y >= 0 and n.y + NODE_H <= g.height for n in g.nodes)


def test_a_need_given_as_one_string_or_naming_no_step_is_drawn_sensibly() -> None:
    g = layout([{"id": "a", "uses": "noop"}, {"id": "b", "uses": "noop", "needs": "a"},
                {"id": "c", "uses": "noop", "needs": ["ghost"]}])  # fmt: skip
    assert {n.id: n.layer for n in g.nodes} == {"a": 0, "b": 1, "c": 0}
    assert [(e.source, e.target) for e in g.edges] == [("a", "b")]


def test_a_hundred_step_chain_has_a_hundred_columns() -> None:
    steps = _steps(("s0", []), *((f"s{i}", [f"s{i - 1}"]) for i in range(1, 100)))
    g = layout(steps)
    assert max(n.layer for n in g.nodes) == 99
    assert len(g.edges) == 99


def test_a_foreach_step_is_labelled_with_its_progress() -> None:
    items = [{"status": "succeeded"}, {"status": "running"}, {"status": "failed"}]
    assert state({"status": "running"}, items)["label"] == "2 of 3"


def test_a_waiting_step_says_what_it_waits_for() -> None:
    slot = {"status": "running", "waiting": {"kind": "approval", "role": "manager"}}
    assert state(slot, None) == {"status": "running", "waiting": "approval",
                                 "label": "waiting"}  # fmt: skip
    assert step_states({"a": {"status": "succeeded"}})["a"]["label"] == "succeeded"
