"""The editor's live DAG preview: a definition's steps laid out in layers for SVG (pure).

Columns are the needs-graph's topological generations (networkx). The run page's renderer
(``api/console/dag.py`` on the console branch) lays out the same way; this small one stands
in until the two are one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import networkx as nx

NODE_W, NODE_H, GAP_X, GAP_Y, MARGIN = 140, 36, 50, 14, 12


@dataclass(frozen=True)
class PreviewNode:
    id: str
    uses: str
    x: int
    y: int


@dataclass(frozen=True)
class Preview:
    nodes: list[PreviewNode]
    edges: list[str]  # SVG path data, one per need
    width: int
    height: int


def _needs(step: dict[str, Any]) -> list[str]:
    needs = step.get("needs") or []
    if isinstance(needs, str):
        return [needs]
    return [str(n) for n in needs] if isinstance(needs, list) else []


def preview(definition: Any) -> Preview | None:
    """The layout of ``definition``'s steps; None when there is nothing to draw (no step
    list, or a cycle). Needs naming no step are left out: the errors list names them."""
    steps = definition.get("steps") if isinstance(definition, dict) else None
    if not isinstance(steps, list):
        return None
    steps = [s for s in steps if isinstance(s, dict) and isinstance(s.get("id"), str)]
    graph: nx.DiGraph[str] = nx.DiGraph()
    order: dict[str, int] = {}
    for i, step in enumerate(steps):
        order.setdefault(step["id"], i)
        graph.add_node(step["id"])
    for step in steps:
        for need in _needs(step):
            if need in order:
                graph.add_edge(need, step["id"])
    try:
        generations = list(nx.topological_generations(graph))
    except nx.NetworkXUnfeasible:  # a cycle: the errors list says where
        return None
    by_id = {s["id"]: s for s in steps}
    place: dict[str, PreviewNode] = {}
    for layer, generation in enumerate(generations):
        for row, sid in enumerate(sorted(generation, key=order.__getitem__)):
            place[sid] = PreviewNode(
                sid, str(by_id[sid].get("uses", "")),
                MARGIN + layer * (NODE_W + GAP_X), MARGIN + row * (NODE_H + GAP_Y),
            )  # fmt: skip
    edges = []
    for a, b in graph.edges:
        x1, y1 = place[a].x + NODE_W, place[a].y + NODE_H // 2
        x2, y2 = place[b].x, place[b].y + NODE_H // 2
        bend = (x2 - x1) // 2
        edges.append(f"M{x1},{y1} C{x1 + bend},{y1} {x2 - bend},{y2} {x2},{y2}")
    layers = max(1, len(generations))
    tallest = max((len(g) for g in generations), default=1)
    return Preview(
        sorted(place.values(), key=lambda n: order[n.id]), edges,
        2 * MARGIN + layers * NODE_W + (layers - 1) * GAP_X,
        2 * MARGIN + tallest * NODE_H + (tallest - 1) * GAP_Y,
    )  # fmt: skip
