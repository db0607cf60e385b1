"""`cairn lineage REF`: what a version was made from and what was made from it, as a tree.

The api answers with a graph (nodes and edges); a terminal shows a tree. A node reached twice
(a shared dataset, a diamond) is drawn in full once and then only named, and a cycle stops
where it would repeat a node of its own path, so the tree stays as small as the graph.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cairn.cli import pictures, render
from cairn.cli.app import client, command
from cairn.cli.read import JsonOut, Ref
from cairn.core.domain import lineage_dot

if TYPE_CHECKING:
    from rich.text import Text
    from rich.tree import Tree

Edges = dict[str, list[tuple[str, str]]]  # node -> [(relation, neighbour)]


class Direction(StrEnum):
    up = "up"
    down = "down"
    both = "both"


@command()
def lineage(
    ref: Ref,
    direction: Annotated[Direction, typer.Option(
        "--direction", "-d", help="up: what it was made from; down: what was made from it",
        case_sensitive=False)] = Direction.both,
    depth: Annotated[int, typer.Option("--depth", min=1, max=10,
                                       help="How many links away to follow")] = 3,
    output: pictures.Output = None,
    as_json: JsonOut = False,
) -> None:
    """The lineage of a version: datasets, models and evaluations linked to it; with
    --output graph.svg (or .png, or .dot for the Graphviz source) drawn as a picture."""
    if output is not None:
        fmt = pictures.output_format(output, lineage_dot.FORMATS)
        with client() as c:
            drawn = c.lineage_picture(ref, fmt, direction.value, depth)
        pictures.save(output, drawn, f"lineage of {ref}", as_json)
        return
    with client() as c:
        graph = c.lineage(ref, direction.value, depth)
    render.either(graph, as_json, lambda g: render.out.print(tree(g)))


def tree(graph: Mapping[str, Any]) -> Tree:
    """A rich Tree of the graph, rooted at its root version."""
    from rich.text import Text
    from rich.tree import Tree

    nodes = {n["id"]: n for n in graph.get("nodes") or []}
    up: Edges = defaultdict(list)
    down: Edges = defaultdict(list)
    for e in graph.get("edges") or []:
        up[e["from"]].append((e["relation"], e["to"]))
        down[e["to"]].append((e["relation"], e["from"]))
    root_id = graph["root"]
    root = Tree(label(nodes.get(root_id, {"id": root_id})), guide_style="dim")
    direction, depth = graph.get("direction", "both"), int(graph.get("depth", 3))
    for way, edges, title in (("up", up, "made from"), ("down", down, "used by")):
        if direction not in (way, "both"):
            continue
        branch = root.add(Text(title, style="bold")) if direction == "both" else root
        _grow(branch, root_id, edges, nodes, depth, (root_id,), set())
        if not edges.get(root_id):
            branch.add(Text(f"nothing {title}", style="dim"))
    return root


def _grow(branch: Tree, node: str, edges: Edges, nodes: Mapping[str, Any], depth: int,
          path: tuple[str, ...], shown: set[str]) -> None:
    from rich.text import Text

    if len(path) > depth:
        return
    for relation, other in sorted(edges.get(node, [])):
        text = Text.assemble((relation, "magenta"), " ", label(nodes.get(other, {"id": other})))
        if other in path:
            branch.add(text.append("  ↻ cycle", style="yellow"))
        elif other in shown and edges.get(other):
            branch.add(text.append("  (shown above)", style="dim"))
        else:
            shown.add(other)
            _grow(branch.add(text), other, edges, nodes, depth, (*path, other), shown)


def label(node: Mapping[str, Any]) -> Text:
    """`p/n@v3  model · production · passed`; external, unrecorded and hidden targets say
    so."""
    from rich.text import Text

    kind = node.get("kind")
    if node.get("redacted"):
        return Text("a version you may not see", style="dim")
    if kind == "external":
        at = f" @ {node['commit']}" if node.get("commit") else ""
        return Text.assemble((str(node.get("url")), "blue"), at,
                             (f"  external {node.get('external_kind') or ''}".rstrip(), "dim"))
    if kind == "unresolved":
        return Text.assemble((str(node.get("target_ref")), "bold"),
                             ("  not recorded yet", "yellow"))
    facts = [str(node[k]) for k in ("kind", "stage") if node.get(k)]
    if node.get("status") not in (None, "active"):
        facts.append(str(node["status"]))
    if node.get("validation") not in (None, "pending"):
        facts.append(str(node["validation"]))
    return Text.assemble((str(node["id"]), "bold cyan"), ("  " + " · ".join(facts), "dim"))
