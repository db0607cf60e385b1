"""The retention facts of versions (status, stage, age, use, holds, who links to them): what
the ledger's archive/restore/delete checks and the retention planner decide on."""

from __future__ import annotations

import asyncpg

from cairn.core.domain.retention import VersionFacts

FACTS_SQL = """
SELECT v.id, a.project || '/' || a.name AS artifact, v.version_number, v.digest, v.kind,
  v.stage, v.status, v.created_at, v.updated_seq, e.recorded_at AS updated_at, u.last_used_at,
  coalesce(v.metadata -> 'legal_hold' = 'true'::jsonb, false) AS legal_hold,
  ARRAY(SELECT jsonb_array_elements_text(CASE jsonb_typeof(v.metadata -> 'tags')
        WHEN 'array' THEN v.metadata -> 'tags' ELSE '[]'::jsonb END)) AS tags,
  ARRAY(SELECT DISTINCT sa.project || '/' || sa.name || '@v' || s.version_number
        FROM links l JOIN versions s ON s.id = l.source_version_id
        JOIN artifacts sa ON sa.id = s.artifact_id
        WHERE l.target_version_id = v.id AND s.status = 'active' AND s.id <> v.id
        ORDER BY 1 LIMIT 3) AS referenced_by
FROM versions v JOIN artifacts a ON a.id = v.artifact_id
LEFT JOIN usage_counts u ON u.version_id = v.id
LEFT JOIN event_log e ON e.seq = v.updated_seq
"""
ONE_VERSION = FACTS_SQL + " WHERE v.id = $1"
PROJECT_VERSIONS = FACTS_SQL + " WHERE a.project = $1 AND v.status <> 'deleted' ORDER BY v.id"


def _ms(value: object) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)  # type: ignore[attr-defined]


def facts_of(row: asyncpg.Record) -> VersionFacts:
    return VersionFacts(
        id=row["id"], artifact=row["artifact"], number=row["version_number"],
        digest=row["digest"], kind=row["kind"], stage=row["stage"], status=row["status"],
        created_at=_ms(row["created_at"]) or 0, tags=tuple(row["tags"]),
        last_used_at=_ms(row["last_used_at"]), legal_hold=row["legal_hold"],
        referenced_by=tuple(row["referenced_by"]), updated_seq=row["updated_seq"],
        updated_at=_ms(row["updated_at"]) or 0)


async def version_facts(conn: asyncpg.Connection, version_id: int) -> VersionFacts:
    """One version's facts, in the caller's transaction (the ledger's, before it decides)."""
    return facts_of(await conn.fetchrow(ONE_VERSION, version_id))


async def project_versions(conn: asyncpg.Connection, project: str) -> list[VersionFacts]:
    """Every version of `project` that is not deleted, oldest first."""
    return [facts_of(r) for r in await conn.fetch(PROJECT_VERSIONS, project)]
