"""A lineage graph (the api's `GET /v1/lineage` answer) as Graphviz DOT text, for pictures.

Pure: JSON in, text out; the api runs `dot` on it (cairn.api.pictures). Edges go from the
version that declares a link to its target, as in the JSON, and the layout runs right to left,
so what a version was made from stands to its left and arrows point back to their sources.

Nodes are coloured by kind, the focus version has a thick border, a label names the version
and its kind, stage, validation and (when not active) status; archived versions and tombstones
are dashed; a version the caller may not see (`{"redacted": true}`) is a grey placeholder
that names nothing. Given `link` (ref -> URL), each version node becomes a link (Graphviz's
URL attribute, an <a> in the SVG): the web UI's clickable graph. Placeholders, external
sources and unresolved refs never get one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

FORMATS = {"svg": "image/svg+xml", "png": "image/png",  # what `dot` draws; dot: the text
           "dot": "text/vnd.graphviz; charset=utf-8"}
# kind -> (fill, border)
KIND_COLOURS = {
    "model": ("#dbeafe", "#2563eb"),
    "dataset": ("#dcfce7", "#16a34a"),
    "eval_log": ("#fef3c7", "#d97706"),
    "external": ("#ede9fe", "#7c3aed"),
    "unresolved": ("#ffffff", "#6b7280"),
}
OTHER_KIND = ("#f3f4f6", "#374151")
REDACTED = {"label": "private", "style": "filled", "fillcolor": "#e5e7eb", "color": "#9ca3af",
            "fontcolor": "#6b7280", "tooltip": "a version you may not see"}
FOCUS = {"penwidth": "3", "color": "#e11d48"}
GONE = ("archived", "deleted")  # statuses drawn dashed
FONT = {"fontname": "Helvetica"}


def quote(text: object) -> str:
    """A DOT double-quoted string: backslashes and quotes escaped, newlines as line breaks
    (so user text can never end the string or smuggle in an escape of its own)."""
    escaped = str(text).replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\r", "").replace("\n", "\\n") + '"'


def _attrs(attrs: Mapping[str, object]) -> str:
    return ", ".join(f"{k}={quote(v)}" for k, v in attrs.items() if v is not None)


def node_label(node: Mapping[str, Any]) -> str:
    """Two lines: what it is, then its facts (kind · stage · validation · status)."""
    kind = node.get("kind")
    if kind == "external":
        at = f" @ {node['commit']}" if node.get("commit") else ""
        return f"{node.get('url')}{at}\nexternal {node.get('external_kind') or ''}".rstrip()
    if kind == "unresolved":
        return f"{node.get('target_ref')}\nnot recorded yet"
    facts = [str(node[k]) for k in ("kind", "stage") if node.get(k)]
    if node.get("validation") not in (None, "pending"):
        facts.append(f"validation {node['validation']}")
    if node.get("status") not in (None, "active"):
        facts.append(str(node["status"]))
    return f"{node['id']}\n{' · '.join(facts)}" if facts else str(node["id"])


Link = Callable[[str], str]  # a version's ref -> the URL its node opens


def node_attrs(node: Mapping[str, Any], focus: bool, link: Link | None = None
               ) -> dict[str, object]:
    if node.get("redacted"):
        return dict(REDACTED)
    kind = str(node.get("kind") or "")
    fill, border = KIND_COLOURS.get(kind, OTHER_KIND)
    style = ["filled", "rounded"]
    if node.get("status") in GONE:
        style.append("dashed")
    if kind == "unresolved":
        style.append("dotted")
    attrs: dict[str, object] = {"label": node_label(node), "fillcolor": fill, "color": border,
                                "style": ",".join(style), "tooltip": node["id"]}
    if kind == "external":
        attrs["shape"] = "note"
    elif link is not None and kind != "unresolved":
        attrs["URL"] = link(str(node["id"]))
    return {**attrs, **(FOCUS if focus else {})}


def to_dot(graph: Mapping[str, Any], link: Link | None = None) -> str:
    """The whole picture: nodes in the answer's order (nearest first), then edges."""
    root = graph.get("root")
    title = f"lineage of {root}"
    if graph.get("direction"):
        title += f" ({graph['direction']}, depth {graph.get('depth')})"
    graph_attrs = {"rankdir": "RL", "label": title, "labelloc": "t", **FONT, "fontsize": "12"}
    edge_attrs = {**FONT, "fontsize": "9", "color": "#4b5563", "fontcolor": "#4b5563"}
    lines = ["digraph lineage {", f"  graph [{_attrs(graph_attrs)}];",
             f"  node [{_attrs({'shape': 'box', **FONT, 'fontsize': '11'})}];",
             f"  edge [{_attrs(edge_attrs)}];"]
    for node in graph.get("nodes") or []:
        attrs = node_attrs(node, node["id"] == root, link)
        lines.append(f"  {quote(node['id'])} [{_attrs(attrs)}];")
    for edge in graph.get("edges") or []:
        lines.append(f"  {quote(edge['from'])} -> {quote(edge['to'])} "
                     f"[{_attrs({'label': edge.get('relation')})}];")
    lines.append("}")
    return "\n".join(lines) + "\n"
