"""The run page's DAG: a definition's steps laid out in layers, as SVG geometry (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx

NODE_W, NODE_H = 150, 44
GAP_X, GAP_Y, MARGIN = 70, 18, 16


@dataclass(frozen=True)
class Node:
    id: str
    uses: str
    layer: int
    x: int
    y: int
    foreach: bool


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    path: str  # an SVG path: a cubic curve from the source's right to the target's left


@dataclass(frozen=True)
class Layout:
    nodes: list[Node]
    edges: list[Edge]
    width: int
    height: int


def _needs(step: Mapping[str, Any]) -> list[str]:
    needs = step.get("needs") or []
    return [needs] if isinstance(needs, str) else [str(n) for n in needs]


def layout(steps: Sequence[Mapping[str, Any]]) -> Layout:
    """Columns are the needs-graph's topological generations (a step sits one column right of
    its latest need); within a column, definition order. O(steps + edges). Needs naming no
    step are ignored (a stored definition was validated; this only draws it)."""
    graph: nx.DiGraph[str] = nx.DiGraph()
    order: dict[str, int] = {}
    for i, step in enumerate(steps):
        sid = str(step.get("id"))
        order[sid] = i
        graph.add_node(sid)
    for step in steps:
        for need in _needs(step):
            if need in order:
                graph.add_edge(need, str(step.get("id")))
    by_id = {str(s.get("id")): s for s in steps}
    nodes: dict[str, Node] = {}
    tallest = 0
    for layer, generation in enumerate(nx.topological_generations(graph)):
        column = sorted(generation, key=order.__getitem__)
        tallest = max(tallest, len(column))
        for row, sid in enumerate(column):
            step = by_id[sid]
            nodes[sid] = Node(
                id=sid, uses=str(step.get("uses", "")), layer=layer,
                x=MARGIN + layer * (NODE_W + GAP_X), y=MARGIN + row * (NODE_H + GAP_Y),
                foreach=step.get("foreach") is not None,
            )  # fmt: skip
    edges = [_edge(nodes[a], nodes[b]) for a, b in graph.edges]
    layers = 1 + max((n.layer for n in nodes.values()), default=0)
    width = 2 * MARGIN + layers * NODE_W + (layers - 1) * GAP_X
    height = 2 * MARGIN + tallest * NODE_H + max(0, tallest - 1) * GAP_Y
    return Layout(sorted(nodes.values(), key=lambda n: order[n.id]), edges, width, height)


def _edge(a: Node, b: Node) -> Edge:
    x1, y1 = a.x + NODE_W, a.y + NODE_H // 2
    x2, y2 = b.x, b.y + NODE_H // 2
    bend = (x2 - x1) // 2
    return Edge(a.id, b.id, f"M{x1},{y1} C{x1 + bend},{y1} {x2 - bend},{y2} {x2},{y2}")


def step_states(slots: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each step's status, whether it waits (``approval``/``wait``) and its label ("n of m"
    for a foreach step), from the run's step slots (the aggregate's or the read model's)."""
    return {sid: state(slot, slot.get("items")) for sid, slot in slots.items()}


def state(slot: Mapping[str, Any], items: Iterable[Mapping[str, Any]] | None) -> dict[str, Any]:
    status = str(slot.get("status", "pending"))
    waiting = slot.get("waiting") or None
    label = status
    if items is not None:
        listed = list(items)
        done = sum(1 for i in listed if i.get("status") in ("succeeded", "failed", "skipped"))
        label = f"{done} of {len(listed)}"
    elif waiting:
        label = "waiting"
    return {"status": status, "waiting": (waiting or {}).get("kind"), "label": label}
