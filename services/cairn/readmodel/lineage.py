"""Lineage as the ledger's `links` table holds it, walked with recursive CTEs.

An edge goes from the version that declares a link to its target, so "up" follows links
forward (what a version was made from) and "down" follows them backward (what was made from
it). Each walk is a recursive CTE over (version, depth) with UNION, so a cycle stops at the
depth limit and no (version, depth) pair is visited twice: at most versions x depth rows,
never an exponential number of paths.

A version in a project the caller may not see ends the walk inside the query itself: it is
reached (so the link to it is returned) but never opened, so nothing it links to, or is
linked from, is ever read. Which projects those are is the api's decision.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Literal, TypedDict, cast

from cairn.readmodel.versions import Conn

# $1 root version id, $2 depth limit, $3 the projects hidden from the caller. A version in a
# hidden project is reached (so the link to it shows) but never opened: the walk goes no
# further from it and no link leaving it is read. Rows: every link leaving an open version
# reached below the limit, with that depth and the project of its far end (NULL when the far
# end is not a recorded version).
_WALK = """
WITH RECURSIVE walk(version_id, depth, open) AS (
  SELECT $1::bigint, 0, true
  UNION
  SELECT l.{far}, w.depth + 1, a.project <> ALL($3::text[])
  FROM walk w JOIN links l ON l.{near} = w.version_id
  JOIN versions v ON v.id = l.{far} JOIN artifacts a ON a.id = v.artifact_id
  WHERE w.open AND w.depth < $2
), reached AS (
  SELECT version_id, min(depth) AS depth FROM walk WHERE open GROUP BY version_id
)
SELECT '{walk}' AS walk, l.id, l.source_version_id, l.target_version_id, l.relation,
       l.target_ref, l.external, r.depth, fa.project AS far_project
FROM reached r JOIN links l ON l.{near} = r.version_id
LEFT JOIN versions fv ON fv.id = l.{far} LEFT JOIN artifacts fa ON fa.id = fv.artifact_id
WHERE r.depth < $2
ORDER BY r.depth, l.id
"""
WALK_SQL = {
    "up": _WALK.format(walk="up", near="source_version_id", far="target_version_id"),
    "down": _WALK.format(walk="down", near="target_version_id", far="source_version_id"),
}
NODES_SQL = """
SELECT v.id, a.project, a.name, v.version_number, v.kind, v.digest, v.stage, v.status,
       v.validation
FROM versions v JOIN artifacts a ON a.id = v.artifact_id WHERE v.id = ANY($1::bigint[])
"""


class WalkedLink(TypedDict):
    """A link the walk followed from a version at `depth` (a row of WALK_SQL)."""

    walk: Literal["up", "down"]
    id: int
    source_version_id: int
    target_version_id: int | None
    relation: str
    target_ref: str | None
    external: str | None  # the external target's JSON, as stored
    depth: int
    far_project: str | None  # None: the far end is not a recorded version


class LineageVersion(TypedDict):
    """A version as a node of the graph (a row of NODES_SQL)."""

    id: int
    project: str
    name: str
    version_number: int
    kind: str
    digest: str
    stage: str | None
    status: str
    validation: str


async def walk(conn: Conn, root: int, way: Literal["up", "down"], depth: int,
               hidden: Collection[str]) -> list[WalkedLink]:
    """Every link leaving a version open to the caller within `depth` of `root`, nearest
    first; versions in `hidden` projects end the walk."""
    rows = await conn.fetch(WALK_SQL[way], root, depth, sorted(hidden))
    return [cast(WalkedLink, dict(r)) for r in rows]


async def lineage_versions(conn: Conn, ids: Iterable[int]) -> dict[int, LineageVersion]:
    """id → the version, for the ids that are recorded versions."""
    return {r["id"]: cast(LineageVersion, dict(r))
            for r in await conn.fetch(NODES_SQL, list(ids))}
