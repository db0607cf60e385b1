"""What the validator reads from the ledger's PostgreSQL (through cairn.readmodel): read-only,
never a write.

Only the ledger writes; the validator answers with events. Reads happen after the ledger
committed the record being judged (it publishes to the changelog only after its commit).
"""

from __future__ import annotations

import asyncpg

from cairn.readmodel.links import outgoing_links
from cairn.validator.checks.lineage import LinkTarget


class LinkStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def __call__(self, project: str, name: str, digest: str) -> list[LinkTarget]:
        async with self.pool.acquire() as conn, conn.transaction(readonly=True):
            links = await outgoing_links(conn, project, name, digest)
        return [LinkTarget(link.relation, link.target_ref, link.resolved) for link in links]
