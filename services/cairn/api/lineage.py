"""Lineage as a graph, walked over the ledger's `links` table (cairn.readmodel.lineage).

Lineage comes from PostgreSQL, not the search index: it must be exact and current. An edge
goes from the version that declares a link to its target, so "up" follows links forward
(what a version was made from) and "down" follows them backward (what was made from it).

A version the caller may not see ends the walk inside the query itself: it shows as a
placeholder at the end of the link that reached it, and nothing it links to (or is linked
from) is ever read, so no answer can say what lies behind it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import asyncpg

from cairn.api.deps import check_selector
from cairn.api.reads import find_version, snapshot
from cairn.api.visibility import Hidden, project_of_ref
from cairn.core.domain.identity import InvalidInput, parse_ref
from cairn.readmodel.lineage import WalkedLink, lineage_versions, walk

DIRECTIONS = ("up", "down", "both")
MAX_DEPTH = 10
DEFAULT_DEPTH = 3


def parse_params(direction: str | None, depth: str | None) -> tuple[str, int]:
    """Query parameters, checked by hand so a bad one gets a 400 with a reason, not a 422."""
    direction = direction or "both"
    if direction not in DIRECTIONS:
        raise InvalidInput("invalid_direction",
                           f"direction {direction!r} must be one of {', '.join(DIRECTIONS)}")
    text = (depth or str(DEFAULT_DEPTH)).strip()
    if not text.isdigit() or not 1 <= int(text) <= MAX_DEPTH:
        raise InvalidInput("invalid_depth",
                           f"depth {depth!r} must be a whole number from 1 to {MAX_DEPTH}")
    return direction, int(text)


async def graph(pool: asyncpg.Pool, ref: str, direction: str, depth: int, hidden: Hidden
                ) -> dict[str, Any]:
    """{"root", "direction", "depth", "nodes", "edges"} around the version `ref` names, as
    the caller may see it: the walk ends at what is hidden from them (see `assemble`)."""
    parsed = parse_ref(ref)
    selector = check_selector(parsed.selector or "latest")
    async with snapshot(pool) as conn:
        root = await find_version(conn, parsed.project, parsed.name, selector)
        links: list[WalkedLink] = []
        if direction in ("up", "both"):
            links += await walk(conn, root["id"], "up", depth, hidden)
        if direction in ("down", "both"):
            links += await walk(conn, root["id"], "down", depth, hidden)
        ids = {root["id"]} | {_near(r) for r in links} | {
            far for r in links if (far := _far(r)) is not None and not _unseen_far(r, hidden)}
        versions = await lineage_versions(conn, ids)
    return assemble(ref, root["id"], direction, depth, versions, links, hidden)


def _near(link: Any) -> int:
    """The end of a link the walk came from (always a version the caller may see)."""
    return int(link["source_version_id" if link["walk"] == "up" else "target_version_id"])


def _far(link: Any) -> int | None:
    """The other end, if it is a recorded version."""
    far = link["target_version_id" if link["walk"] == "up" else "source_version_id"]
    return None if far is None else int(far)


def node_id(r: asyncpg.Record | dict[str, Any]) -> str:
    return f"{r['project']}/{r['name']}@v{r['version_number']}"


def assemble(ref: str, root: int, direction: str, depth: int, versions: dict[int, Any],
             links: Iterable[Any], hidden: Hidden) -> dict[str, Any]:
    """Nodes (each once, at its shortest distance from the root) and edges (each once).

    The far end of a link that the caller may not see (a version in a hidden project, or an
    unrecorded target in a project that is hidden or does not exist) is a placeholder of its
    own per link, `{"id": "redacted-N", "redacted": true}`: one per link, so two links never
    show that they reach the same hidden version, and a link to a missing project looks
    exactly like one to a hidden project."""
    nodes: dict[str, dict[str, Any]] = {}
    distance: dict[str, int] = {}
    placeholders: dict[int, str] = {}  # link id -> its placeholder's id

    def add(node: dict[str, Any], at: int) -> str:
        nodes.setdefault(node["id"], node)
        distance[node["id"]] = min(at, distance.get(node["id"], at))
        return str(node["id"])

    def version_node(vid: int) -> dict[str, Any]:
        v = versions[vid]
        return {"id": node_id(v), "kind": v["kind"], "digest": v["digest"],
                "stage": v["stage"], "status": v["status"], "validation": v["validation"]}

    def far_node(link: Any) -> dict[str, Any]:
        if _unseen_far(link, hidden):
            name = placeholders.setdefault(link["id"], f"redacted-{len(placeholders) + 1}")
            return {"id": name, "redacted": True}
        if link["far_project"] is not None:
            return version_node(_far(link))  # type: ignore[arg-type]
        return _unrecorded_node(link)

    root_id = add(version_node(root), 0)
    edges: dict[tuple[str, str, str], dict[str, str]] = {}
    for link in links:
        near = add(version_node(_near(link)), link["depth"])
        far = add(far_node(link), link["depth"] + 1)
        source, target = (near, far) if link["walk"] == "up" else (far, near)
        edges.setdefault((source, target, link["relation"]),
                         {"from": source, "to": target, "relation": link["relation"]})
    ordered = sorted(nodes.values(), key=lambda n: (distance[n["id"]], n["id"]))
    return {"root": root_id, "ref": ref, "direction": direction, "depth": depth,
            "nodes": [{**n, "distance": distance[n["id"]]} for n in ordered],
            "edges": list(edges.values())}


def _unseen_far(link: Any, hidden: Hidden) -> bool:
    if link["far_project"] is not None:
        return hidden.unseen(link["far_project"])
    return link["external"] is None and hidden.unseen(project_of_ref(link["target_ref"]))


def _unrecorded_node(link: Any) -> dict[str, Any]:
    """The far end of a link that is not a version: an external URL, or a target not
    recorded yet."""
    if link["external"] is not None:
        ext = json.loads(link["external"])
        at = f"@{ext['commit']}" if ext.get("commit") else ""
        return {"id": f"external:{ext['url']}{at}", "kind": "external", "url": ext["url"],
                "commit": ext.get("commit"), "path": ext.get("path"),
                "external_kind": ext.get("kind")}
    return {"id": f"unresolved:{link['target_ref']}", "kind": "unresolved", "unresolved": True,
            "target_ref": link["target_ref"]}
