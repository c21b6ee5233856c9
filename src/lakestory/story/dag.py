"""The DAG as an inline SVG: a layered layout by topological depth, nodes coloured by status,
each node a link to its section (``#node-<key>``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

BOX_W, BOX_H, GAP_X, GAP_Y, PAD = 180, 34, 60, 14, 10
COLOURS = {
    "success": "#2e7d32",
    "failed": "#c62828",
    "skipped": "#9e9e9e",
    "pending": "#9e9e9e",
    "running": "#f9a825",
}


def layers(nodes: Sequence[str], edges: Sequence[Sequence[str]]) -> dict[str, int]:
    """Each node's depth: 0 for a node with no upstream, else 1 + its deepest upstream."""
    ups: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        if a in ups and b in ups:
            ups[b].append(a)
    depth: dict[str, int] = {}

    def visit(n: str, seen: frozenset[str]) -> int:
        if n not in depth:
            parents = [u for u in ups[n] if u not in seen]  # a cycle cannot loop forever
            depth[n] = 1 + max((visit(u, seen | {n}) for u in parents), default=-1)
        return depth[n]

    for n in nodes:
        visit(n, frozenset())
    return depth


def anchor(key: str) -> str:
    return "node-" + "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in key)


def render_svg(
    nodes: Sequence[str], edges: Sequence[Sequence[str]], status: Mapping[str, str]
) -> str:
    depth = layers(nodes, edges)
    columns: dict[int, list[str]] = {}
    for n in nodes:
        columns.setdefault(depth[n], []).append(n)
    pos = {}
    for d, members in columns.items():
        for i, n in enumerate(members):
            pos[n] = (PAD + d * (BOX_W + GAP_X), PAD + i * (BOX_H + GAP_Y))
    width = PAD * 2 + (max(columns, default=0) + 1) * (BOX_W + GAP_X) - GAP_X
    height = PAD * 2 + max((len(m) for m in columns.values()), default=1) * (BOX_H + GAP_Y)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="dag" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="DAG">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" '
        'markerHeight="6" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#777"/></marker>'
        "</defs>",
    ]
    for a, b in edges:
        if a in pos and b in pos:
            (x1, y1), (x2, y2) = pos[a], pos[b]
            parts.append(
                f'<line x1="{x1 + BOX_W}" y1="{y1 + BOX_H // 2}" x2="{x2}" '
                f'y2="{y2 + BOX_H // 2}" stroke="#777" marker-end="url(#arrow)"/>'
            )
    for n in nodes:
        x, y = pos[n]
        st = status.get(n, "pending")
        colour = COLOURS.get(st, "#9e9e9e")
        label = n if len(n) <= 24 else n[:23] + "…"
        parts.append(
            f'<a href="#{escape(anchor(n))}"><g class="dag-node" data-status="{escape(st)}">'
            f"<title>{escape(n)}: {escape(st)}</title>"
            f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="6" '
            f'fill="{colour}"/>'
            f'<text x="{x + BOX_W // 2}" y="{y + BOX_H // 2 + 4}" text-anchor="middle" '
            f'fill="#fff" font-size="12">{escape(label)}</text></g></a>'
        )
    parts.append("</svg>")
    return "".join(parts)
