"""What the indexer reads from the ledger's PostgreSQL (read-only; only the ledger writes).

`states` is a batched `cairn.ledger.queries.version_state`: the same VersionState per
version (a test compares the two), one round trip per page instead of one per version, so
`cairn reindex` reads 100,000 versions in seconds. Usage counts come from the ledger's
`usage_counts` table (migration 0002); where it does not exist yet, there is no usage.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import asyncpg

Key = tuple[str, str, int]  # (project, name, version_number)
Usage = dict[str, int]

STATES_SQL = """
SELECT v.*, a.project, a.name,
  (SELECT coalesce(json_agg(json_build_object('path', f.path, 'size', f.size, 'sha256', f.sha256,
          'media_type', f.media_type) ORDER BY f.path), '[]')
   FROM files f WHERE f.version_id = v.id) AS files,
  (SELECT coalesce(json_agg(json_build_object('relation', l.relation, 'target', l.target_ref,
          'external', l.external) ORDER BY l.id), '[]')
   FROM links l WHERE l.source_version_id = v.id) AS links,
  (SELECT coalesce(array_agg(al.alias ORDER BY al.alias), '{}') FROM aliases al
    WHERE al.version_id = v.id) AS aliases
FROM versions v JOIN artifacts a ON a.id = v.artifact_id WHERE v.id = ANY($1::bigint[])
ORDER BY v.id
"""

USAGE_BY_KEY_SQL = """
SELECT a.project, a.name, v.version_number, u.views, u.downloads
FROM unnest($1::text[], $2::text[], $3::int[]) AS k(project, name, number)
JOIN artifacts a ON a.project = k.project AND a.name = k.name
JOIN versions v ON v.artifact_id = a.id AND v.version_number = k.number
JOIN usage_counts u ON u.version_id = v.id
"""


def _state(v: asyncpg.Record) -> dict[str, Any]:
    content = {
        "kind": v["kind"], "project": v["project"], "name": v["name"], "digest": v["digest"],
        "files": json.loads(v["files"]), "metadata": json.loads(v["metadata"]),
        "environment": json.loads(v["environment"]), "links": json.loads(v["links"]),
        "stage": v["stage"], "extra": json.dumps(json.loads(v["extra"]), sort_keys=True),
    }
    return {
        "version_number": v["version_number"], "digest": v["digest"], "content": content,
        "stage": v["stage"], "aliases": list(v["aliases"]), "status": v["status"],
        "validation": v["validation"], "completeness": v.get("completeness"),
        "created_at": int(v["created_at"].timestamp() * 1000),
        "updated_seq": v["updated_seq"],
        "legal_hold": content["metadata"].get("legal_hold") is True,
    }


async def states(conn: asyncpg.Connection, version_ids: Sequence[int]
                 ) -> list[tuple[dict[str, Any], Usage | None]]:
    """(VersionState, usage) of each version, as the ledger has them now."""
    rows = await conn.fetch(STATES_SQL, list(version_ids))
    usage = await _usage_by_id(conn, [r["id"] for r in rows])
    return [(_state(r), usage.get(r["id"])) for r in rows]


async def _usage_by_id(conn: asyncpg.Connection, version_ids: list[int]) -> dict[int, Usage]:
    try:
        async with conn.transaction():  # a savepoint: a missing table must not end the caller's
            rows = await conn.fetch("SELECT version_id, views, downloads FROM usage_counts"
                                    " WHERE version_id = ANY($1::bigint[])", version_ids)
    except asyncpg.UndefinedTableError:
        return {}
    return {r["version_id"]: {"views": r["views"], "downloads": r["downloads"]} for r in rows}


async def usage_by_key(conn: asyncpg.Connection, keys: Sequence[Key]) -> dict[Key, Usage]:
    """Usage of the versions a changelog batch is about (UndefinedTableError if no table)."""
    if not keys:
        return {}
    rows = await conn.fetch(USAGE_BY_KEY_SQL, [k[0] for k in keys], [k[1] for k in keys],
                            [k[2] for k in keys])
    return {(r["project"], r["name"], r["version_number"]):
            {"views": r["views"], "downloads": r["downloads"]} for r in rows}


async def usage_changed(conn: asyncpg.Connection, after: tuple[dt.datetime, int], limit: int
                        ) -> list[tuple[dt.datetime, int]]:
    """(updated_at, version_id) of usage rows after a cursor, oldest first (keyset paging:
    one ledger batch stamps many rows with the same time)."""
    rows = await conn.fetch(
        "SELECT updated_at, version_id FROM usage_counts WHERE (updated_at, version_id) > ($1, $2)"
        " ORDER BY updated_at, version_id LIMIT $3", after[0], after[1], limit)
    return [(r["updated_at"], r["version_id"]) for r in rows]


async def alias_holders(conn: asyncpg.Connection, artifacts: Sequence[str]
                        ) -> dict[str, tuple[int, list[str]]]:
    """doc id → (version id, aliases) of every version holding an alias in these artifacts."""
    rows = await conn.fetch(
        "SELECT a.project, a.name, v.version_number, v.id, array_agg(al.alias ORDER BY al.alias)"
        " AS aliases FROM aliases al JOIN versions v ON v.id = al.version_id"
        " JOIN artifacts a ON a.id = al.artifact_id"
        " JOIN unnest($1::text[], $2::text[]) AS k(project, name)"
        " ON a.project = k.project AND a.name = k.name"
        " GROUP BY a.project, a.name, v.version_number, v.id",
        [a.split("/", 1)[0] for a in artifacts], [a.split("/", 1)[1] for a in artifacts])
    return {f"{r['project']}/{r['name']}@v{r['version_number']}": (r["id"], list(r["aliases"]))
            for r in rows}


async def version_ids(conn: asyncpg.Connection, doc_ids: Sequence[str]) -> dict[str, int]:
    """doc id (`project/name@vN`) → version id."""
    keys = [(d.split("/", 1)[0], *d.split("/", 1)[1].rsplit("@v", 1)) for d in doc_ids]
    rows = await conn.fetch(
        "SELECT a.project, a.name, v.version_number, v.id"
        " FROM unnest($1::text[], $2::text[], $3::int[]) AS k(project, name, number)"
        " JOIN artifacts a ON a.project = k.project AND a.name = k.name"
        " JOIN versions v ON v.artifact_id = a.id AND v.version_number = k.number",
        [k[0] for k in keys], [k[1] for k in keys], [int(k[2]) for k in keys])
    return {f"{r['project']}/{r['name']}@v{r['version_number']}": r["id"] for r in rows}
