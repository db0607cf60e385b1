"""Lineage links as the ledger recorded them, seen from their source version: what the
validator's lineage check judges (whether each named target resolved)."""

from __future__ import annotations

from dataclasses import dataclass

from cairn.readmodel.config import Db

OUTGOING = """
SELECT t.project, t.name, t.digest, l.relation, l.target_ref,
       l.target_version_id IS NOT NULL AS resolved
FROM unnest($1::text[], $2::text[], $3::text[]) AS t(project, name, digest)
JOIN artifacts a ON a.project = t.project AND a.name = t.name
JOIN versions v ON v.artifact_id = a.id AND v.digest = t.digest
JOIN links l ON l.source_version_id = v.id
WHERE l.target_ref IS NOT NULL
ORDER BY l.id
"""

VersionKey = tuple[str, str, str]  # (project, name, digest)


@dataclass(frozen=True)
class OutgoingLink:
    relation: str
    target_ref: str  # as the publisher named it
    resolved: bool  # the ledger found the version it names


async def outgoing_links(db: Db, versions: list[VersionKey]
                         ) -> dict[VersionKey, list[OutgoingLink]]:
    """The links of each version that name a target, in recorded order; one query for a
    whole batch (a version without such links maps to [])."""
    found: dict[VersionKey, list[OutgoingLink]] = {key: [] for key in versions}
    rows = await db.fetch(OUTGOING, *(list(column) for column in zip(*versions, strict=True))
                          ) if versions else []
    for r in rows:
        found[(r["project"], r["name"], r["digest"])].append(
            OutgoingLink(r["relation"], r["target_ref"], r["resolved"]))
    return found
