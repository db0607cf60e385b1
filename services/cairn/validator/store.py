"""What the validator reads from the ledger's PostgreSQL: read-only, never a write.

Only the ledger writes; the validator answers with events. Reads happen after the ledger
committed the record being judged (it publishes to the changelog only after its commit).
"""

from __future__ import annotations

import asyncpg

from cairn.validator.checks.lineage import LinkTarget

LINKS = """
SELECT l.relation, l.target_ref, l.target_version_id IS NOT NULL AS resolved
FROM links l
JOIN versions v ON v.id = l.source_version_id
JOIN artifacts a ON a.id = v.artifact_id
WHERE a.project = $1 AND a.name = $2 AND v.digest = $3 AND l.target_ref IS NOT NULL
ORDER BY l.id
"""


class LinkStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def __call__(self, project: str, name: str, digest: str) -> list[LinkTarget]:
        async with self.pool.acquire() as conn, conn.transaction(readonly=True):
            rows = await conn.fetch(LINKS, project, name, digest)
        return [LinkTarget(r["relation"], r["target_ref"], r["resolved"]) for r in rows]
