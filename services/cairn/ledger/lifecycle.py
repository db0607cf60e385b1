"""Archive, restore and delete as the ledger records them, and what such versions may change.

- archive: an active version becomes read-only (its blobs go to the archive tier);
- restore: an archived version becomes active again (its blobs come back);
- delete: an active or archived version becomes a tombstone: its row, metadata, manifest and
  lineage stay so provenance stays answerable; the archiver removes its blobs.
Archive and delete are refused for a version in its project's production-like stage (the
last working stage of its ladder), under legal hold, or that an
active version's lineage points to: the same `protections()` the retention planner uses, so
a version that became protected after a plan was made is still never touched.
An archived version takes no metadata edit but legal_hold, no stage but `archived`, and no
new link; a deleted one takes nothing. The facts are read in the ledger's transaction; the
decisions are pure functions, unit-tested without a database.
"""

from __future__ import annotations

import asyncpg

from cairn.core.identity import InvalidInput
from cairn.core.lifecycle_rules import DEFAULT
from cairn.core.retention import VersionFacts, protections
from cairn.ledger.queries import project_rules

STATUS_AFTER = {"archive": "archived", "restore": "active", "delete": "deleted"}

# The facts of versions, for the ledger (one version) and the retention planner (a project).
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


def decide(v: VersionFacts, action: str, protected_stage: str = DEFAULT.protected_stage
           ) -> str:
    """The status `action` leaves `v` in, or InvalidInput with the reason it is refused."""
    if v.status == "deleted":
        raise InvalidInput("version_deleted", f"{v.ref} is deleted: only its tombstone "
                           f"remains, so it cannot be {action}d")
    if action == "restore":
        if v.status != "archived":
            raise InvalidInput("not_archived", f"{v.ref} is {v.status}, not archived: "
                               "there is nothing to restore")
        return STATUS_AFTER[action]
    if action == "archive" and v.status == "archived":
        raise InvalidInput("already_archived", f"{v.ref} is archived already")
    guards = protections(v, protected_stage)
    if guards:
        raise InvalidInput("protected", f"{action} of {v.ref} refused: {'; '.join(guards)}")
    return STATUS_AFTER[action]


def check_writable(ref: str, status: str, what: str, *, archived_ok: bool = False) -> None:
    """Refuse `what` (a change to the version) when its status no longer allows it."""
    if status == "deleted":
        raise InvalidInput("version_deleted", f"{ref} is deleted (a tombstone kept for its "
                           f"provenance): {what} refused")
    if status == "archived" and not archived_ok:
        raise InvalidInput("version_archived", f"{ref} is archived and read-only: {what} "
                           f"refused; restore it first: cairn restore {ref}")


async def next_status(conn: asyncpg.Connection, version_id: int, action: str) -> str:
    v = facts_of(await conn.fetchrow(ONE_VERSION, version_id))
    rules = await project_rules(conn, v.artifact.split("/", 1)[0])
    return decide(v, action, rules.protected_stage)


async def guard(conn: asyncpg.Connection, artifact: str, version_id: int, what: str, *,
                archived_ok: bool = False) -> None:
    row = await conn.fetchrow("SELECT status, version_number FROM versions WHERE id = $1",
                              version_id)
    check_writable(f"{artifact}@v{row['version_number']}", row["status"], what,
                   archived_ok=archived_ok)
