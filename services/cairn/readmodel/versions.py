"""Versions as the ledger stores them: selectors resolved, rules and states read. The ledger
reads them inside its own transactions, the api and retention in theirs."""

from __future__ import annotations

import json
from typing import Any, TypeAlias

import asyncpg

from cairn.core.domain.identity import InvalidInput, is_version_selector
from cairn.core.domain.lifecycle_rules import LifecycleRules, rules_of

Conn: TypeAlias = asyncpg.Connection
PROJECT_LIFECYCLE = ("SELECT body -> 'lifecycle' FROM config_items WHERE kind = 'project'"
                     " AND key = $1 AND NOT removed")


async def project_rules(conn: Conn, project: str) -> LifecycleRules:
    """The project's lifecycle rules (its ladder, gates, protected aliases) as of this
    transaction: the ledger's checks, retention's planner and the api's reads use them."""
    lifecycle = await conn.fetchval(PROJECT_LIFECYCLE, project)
    return rules_of({"lifecycle": json.loads(lifecycle) if lifecycle else None})


async def artifact_row(conn: Conn, artifact: str, *, lock: bool = False) -> asyncpg.Record | None:
    project, _, name = artifact.partition("/")
    sql = "SELECT * FROM artifacts WHERE project = $1 AND name = $2"
    return await conn.fetchrow(sql + (" FOR UPDATE" if lock else ""), project, name)


async def resolve_version(conn: Conn, artifact_id: int, selector: str) -> asyncpg.Record:
    """vN, a digest prefix (7+ hex) or an alias → the version row, or InvalidInput."""
    selector = selector.removeprefix("sha256:")
    if selector.startswith("v") and selector[1:].isdigit():
        row = await conn.fetchrow(
            "SELECT * FROM versions WHERE artifact_id = $1 AND version_number = $2",
            artifact_id,
            int(selector[1:]),
        )
    elif is_version_selector(selector):
        rows = await conn.fetch(
            "SELECT * FROM versions WHERE artifact_id = $1 AND digest LIKE $2 LIMIT 2",
            artifact_id,
            selector + "%",
        )
        if len(rows) > 1:
            raise InvalidInput(
                "ambiguous_digest", f"digest prefix {selector} matches several versions"
            )
        row = rows[0] if rows else None
    else:
        row = await conn.fetchrow(
            "SELECT v.* FROM aliases a JOIN versions v ON v.id = a.version_id "
            "WHERE a.artifact_id = $1 AND a.alias = $2",
            artifact_id,
            selector,
        )
    if row is None:
        raise InvalidInput("unknown_version", f"no version {selector!r} of this artifact")
    return row


# A version's state (avro VersionState) as the ledger snapshots it; `cairn audit verify`
# rebuilds every version's with it to compare with the log.
STATE_SELECT = """
SELECT v.*, a.project, a.name,
  (SELECT coalesce(json_agg(json_build_object('path', f.path, 'size', f.size, 'sha256', f.sha256,
          'media_type', f.media_type) ORDER BY f.path), '[]')
     FROM files f WHERE f.version_id = v.id)
    AS files,
  (SELECT coalesce(json_agg(json_build_object('relation', l.relation, 'target', l.target_ref,
          'external', l.external) ORDER BY l.id), '[]')
     FROM links l WHERE l.source_version_id = v.id)
    AS links,
  (SELECT coalesce(array_agg(al.alias ORDER BY al.alias), '{}') FROM aliases al
    WHERE al.version_id = v.id) AS aliases
FROM versions v JOIN artifacts a ON a.id = v.artifact_id"""
STATE_SQL = STATE_SELECT + " WHERE v.id = $1"


async def version_state(conn: Conn, version_id: int) -> dict[str, Any]:
    """The VersionState record (avro_schemas) of one version, as it is now: one round trip."""
    return state_of(await conn.fetchrow(STATE_SQL, version_id))


def state_of(v: asyncpg.Record) -> dict[str, Any]:
    """A row of STATE_SELECT as a VersionState record."""
    content = {
        "kind": v["kind"],
        "project": v["project"],
        "name": v["name"],
        "digest": v["digest"],
        "files": json.loads(v["files"]),
        "metadata": json.loads(v["metadata"]),
        "environment": json.loads(v["environment"]),
        "links": json.loads(v["links"]),
        "stage": v["stage"],
        "extra": json.dumps(json.loads(v["extra"]), sort_keys=True),
    }
    return {
        "version_number": v["version_number"],
        "digest": v["digest"],
        "content": content,
        "stage": v["stage"],
        "aliases": list(v["aliases"]),
        "status": v["status"],
        "validation": v["validation"],
        "completeness": v["completeness"],
        "created_at": int(v["created_at"].timestamp() * 1000),
        "updated_seq": v["updated_seq"],
        "legal_hold": content["metadata"].get("legal_hold") is True,
    }
