"""Lineage as a graph, read from the ledger's `links` table with recursive CTEs.

Lineage comes from PostgreSQL, not the search index: it must be exact and current. An edge
goes from the version that declares a link to its target, so "up" follows links forward
(what a version was made from) and "down" follows them backward (what was made from it).

Each walk is a recursive CTE over (version, depth) with UNION, so a cycle stops at the depth
limit and no (version, depth) pair is visited twice: at most versions x depth rows, never an
exponential number of paths.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import asyncpg

from cairn.api.deps import check_selector
from cairn.api.reads import find_version, snapshot
from cairn.core.identity import InvalidInput, parse_ref

DIRECTIONS = ("up", "down", "both")
MAX_DEPTH = 10
DEFAULT_DEPTH = 3

# $1 root version id, $2 depth limit. Rows: every link leaving a version reached at a depth
# below the limit, with that depth, so the link's far end is at most at the limit.
_WALK = """
WITH RECURSIVE walk(version_id, depth) AS (
  SELECT $1::bigint, 0
  UNION
  SELECT l.{far}, w.depth + 1 FROM walk w JOIN links l ON l.{near} = w.version_id
  WHERE w.depth < $2 AND l.{far} IS NOT NULL
), reached AS (SELECT version_id, min(depth) AS depth FROM walk GROUP BY version_id)
SELECT '{walk}' AS walk, l.id, l.source_version_id, l.target_version_id, l.relation,
       l.target_ref, l.external, r.depth
FROM reached r JOIN links l ON l.{near} = r.version_id
WHERE r.depth < $2
ORDER BY r.depth, l.id
"""
UP_SQL = _WALK.format(walk="up", near="source_version_id", far="target_version_id")
DOWN_SQL = _WALK.format(walk="down", near="target_version_id", far="source_version_id")
NODES_SQL = """
SELECT v.id, a.project, a.name, v.version_number, v.kind, v.digest, v.stage, v.status,
       v.validation
FROM versions v JOIN artifacts a ON a.id = v.artifact_id WHERE v.id = ANY($1::bigint[])
"""


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


async def graph(pool: asyncpg.Pool, ref: str, direction: str, depth: int) -> dict[str, Any]:
    """{"root", "direction", "depth", "nodes", "edges"} around the version `ref` names."""
    parsed = parse_ref(ref)
    selector = check_selector(parsed.selector or "latest")
    async with snapshot(pool) as conn:
        root = await find_version(conn, parsed.project, parsed.name, selector)
        links: list[asyncpg.Record] = []
        if direction in ("up", "both"):
            links += await conn.fetch(UP_SQL, root["id"], depth)
        if direction in ("down", "both"):
            links += await conn.fetch(DOWN_SQL, root["id"], depth)
        ids = {root["id"]} | {i for r in links
                              for i in (r["source_version_id"], r["target_version_id"]) if i}
        versions = {r["id"]: r for r in await conn.fetch(NODES_SQL, list(ids))}
    return assemble(ref, root["id"], direction, depth, versions, links)


def node_id(r: asyncpg.Record | dict[str, Any]) -> str:
    return f"{r['project']}/{r['name']}@v{r['version_number']}"


def assemble(ref: str, root: int, direction: str, depth: int,
             versions: dict[int, Any], links: Iterable[Any]) -> dict[str, Any]:
    """Nodes (each once, at its shortest distance from the root) and edges (each once)."""
    nodes: dict[str, dict[str, Any]] = {}
    distance: dict[str, int] = {}

    def add(node: dict[str, Any], at: int) -> str:
        nodes.setdefault(node["id"], node)
        distance[node["id"]] = min(at, distance.get(node["id"], at))
        return str(node["id"])

    def version_node(vid: int) -> dict[str, Any]:
        v = versions[vid]
        return {"id": node_id(v), "kind": v["kind"], "digest": v["digest"],
                "stage": v["stage"], "status": v["status"], "validation": v["validation"]}

    root_id = add(version_node(root), 0)
    edges: dict[tuple[str, str, str], dict[str, str]] = {}
    for link in links:
        up = link["walk"] == "up"  # up walks source -> target, down walks target -> source
        source = add(version_node(link["source_version_id"]), link["depth"] + (not up))
        target = add(_target_node(link, versions, version_node), link["depth"] + up)
        edges.setdefault((source, target, link["relation"]),
                         {"from": source, "to": target, "relation": link["relation"]})
    ordered = sorted(nodes.values(), key=lambda n: (distance[n["id"]], n["id"]))
    return {"root": root_id, "ref": ref, "direction": direction, "depth": depth,
            "nodes": [{**n, "distance": distance[n["id"]]} for n in ordered],
            "edges": list(edges.values())}


def _target_node(link: Any, versions: dict[int, Any], version_node: Any) -> dict[str, Any]:
    """The far end of a link: a version, an external URL, or a target not recorded yet."""
    if link["target_version_id"] is not None:
        return version_node(link["target_version_id"])  # type: ignore[no-any-return]
    if link["external"] is not None:
        ext = json.loads(link["external"])
        at = f"@{ext['commit']}" if ext.get("commit") else ""
        return {"id": f"external:{ext['url']}{at}", "kind": "external", "url": ext["url"],
                "commit": ext.get("commit"), "path": ext.get("path"),
                "external_kind": ext.get("kind")}
    return {"id": f"unresolved:{link['target_ref']}", "kind": "unresolved", "unresolved": True,
            "target_ref": link["target_ref"]}
