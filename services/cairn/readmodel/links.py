"""Lineage links as the ledger recorded them, seen from their source version: what the
validator's lineage check judges (whether each named target resolved)."""

from __future__ import annotations

from dataclasses import dataclass

from cairn.readmodel.config import Db

OUTGOING = """
SELECT l.relation, l.target_ref, l.target_version_id IS NOT NULL AS resolved
FROM links l
JOIN versions v ON v.id = l.source_version_id
JOIN artifacts a ON a.id = v.artifact_id
WHERE a.project = $1 AND a.name = $2 AND v.digest = $3 AND l.target_ref IS NOT NULL
ORDER BY l.id
"""


@dataclass(frozen=True)
class OutgoingLink:
    relation: str
    target_ref: str  # as the publisher named it
    resolved: bool  # the ledger found the version it names


async def outgoing_links(db: Db, project: str, name: str, digest: str) -> list[OutgoingLink]:
    """The links of version `digest` of project/name that name a target, in recorded order."""
    rows = await db.fetch(OUTGOING, project, name, digest)
    return [OutgoingLink(r["relation"], r["target_ref"], r["resolved"]) for r in rows]
