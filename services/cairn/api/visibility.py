"""What a caller may see: projects' access settings, the private projects hidden from a
caller, and redaction of what names them in answers about visible things.

Search and suggestions exclude hidden projects in the engine query itself (so hits, facet
counts and suggestions never count them); lineage graphs and a version's links show a
hidden version as `{"redacted": true}`, without its name.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any

import asyncpg

from cairn.core.access import Principal, Project, can_see
from cairn.core.identity import InvalidInput, parse_ref

PROJECT_SQL = "SELECT body FROM config_items WHERE kind = 'project' AND key = $1 AND NOT removed"
PRIVATE_SQL = ("SELECT key, body FROM config_items WHERE kind = 'project' AND NOT removed"
               " AND body->>'visibility' = 'private'")


async def project(conn: asyncpg.Pool | asyncpg.Connection, name: str) -> Project:
    body = await conn.fetchval(PROJECT_SQL, name)
    return Project.of(name, None if body is None else json.loads(body))


async def hidden_projects(conn: asyncpg.Pool | asyncpg.Connection, principal: Principal
                          ) -> frozenset[str]:
    """The private projects the principal has no role in."""
    if principal.site_admin:
        return frozenset()
    rows = await conn.fetch(PRIVATE_SQL)
    return frozenset(r["key"] for r in rows
                     if not can_see(principal, Project.of(r["key"], json.loads(r["body"]))))


def project_of_ref(ref: str | None) -> str | None:
    """The project a reference names (None for a digest-only target or nonsense)."""
    if not ref or ref.startswith("sha256:"):
        return None
    try:
        return parse_ref(ref).project
    except InvalidInput:
        return None


def _node_project(node: Mapping[str, Any]) -> str | None:
    if node.get("kind") == "external":
        return None
    if node.get("kind") == "unresolved":
        return project_of_ref(node.get("target_ref"))
    return project_of_ref(str(node["id"]))


def redact_graph(graph: dict[str, Any], hidden: Collection[str]) -> dict[str, Any]:
    """Nodes in hidden projects become `{"id": "redacted-N", "redacted": true}`; edges keep
    their shape, pointing at the placeholders."""
    if not hidden:
        return graph
    renamed: dict[str, str] = {}
    nodes = []
    for node in graph["nodes"]:
        if _node_project(node) in hidden:
            renamed[node["id"]] = f"redacted-{len(renamed) + 1}"
            nodes.append({"id": renamed[node["id"]], "redacted": True,
                          "distance": node.get("distance")})
        else:
            nodes.append(node)
    edges = [{**e, "from": renamed.get(e["from"], e["from"]), "to": renamed.get(e["to"], e["to"])}
             for e in graph["edges"]]
    return {**graph, "nodes": nodes, "edges": edges}


def redact_detail(detail: dict[str, Any], hidden: Collection[str]) -> dict[str, Any]:
    """A version's links to or from hidden projects keep only their relation."""
    if not hidden:
        return detail

    def out(link: dict[str, Any]) -> dict[str, Any]:
        target = (link.get("target") or {}).get("ref") or link.get("target_ref")
        return {"relation": link["relation"], "redacted": True} \
            if project_of_ref(target) in hidden else link

    def into(link: dict[str, Any]) -> dict[str, Any]:
        return {"relation": link["relation"], "redacted": True} \
            if project_of_ref(link["source"]["ref"]) in hidden else link

    return {**detail, "links_out": [out(lk) for lk in detail["links_out"]],
            "links_in": [into(lk) for lk in detail["links_in"]]}


def redact_hits(answer: dict[str, Any], hidden: Collection[str]) -> dict[str, Any]:
    """Visible hits name no dataset of a hidden project."""
    if not hidden:
        return answer
    for hit in answer["hits"]:
        if hit.get("datasets"):
            hit["datasets"] = [d for d in hit["datasets"] if project_of_ref(d) not in hidden]
    return answer
