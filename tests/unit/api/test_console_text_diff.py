"""The version diff's rows and the editor's DAG preview layout."""

from __future__ import annotations

from api.console.text_diff import as_text, diff_rows
from api.console.workflow_preview import preview


def test_unchanged_lines_are_same_and_a_replaced_line_is_changed() -> None:
    rows = diff_rows(["a", "b", "c"], ["a", "B", "c", "d"])
    assert [(r.kind, r.left_no, r.right_no) for r in rows] == [
        ("same", 1, 1), ("changed", 2, 2), ("same", 3, 3), ("added", None, 4),
    ]  # fmt: skip


def test_a_removed_line_has_no_right_side() -> None:
    rows = diff_rows(["a", "b"], ["a"])
    assert rows[1].kind == "removed"
    assert rows[1].right == ""


def test_key_order_is_not_a_change() -> None:
    assert as_text({"a": 1, "b": 2}) == as_text({"b": 2, "a": 1})


def test_the_preview_puts_each_step_one_column_right_of_its_latest_need() -> None:
    layout = preview({"steps": [{"id": "a", "uses": "x"}, {"id": "b", "needs": ["a"]},
                                {"id": "c", "needs": ["a", "b"]}, {"id": "d"}]})  # fmt: skip
    assert layout is not None
    xs = {n.id: n.x for n in layout.nodes}
    assert xs["a"] == xs["d"] < xs["b"] < xs["c"]
    assert len(layout.edges) == 3


def test_a_cycle_or_no_steps_has_no_preview() -> None:
    assert preview({"steps": [{"id": "a", "needs": "b"}, {"id": "b", "needs": "a"}]}) is None
    assert preview({"name": "x"}) is None
    assert preview("text") is None
